"""Definitions on disk: the document format, the SDK's durable cache and offline mode."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stitchd_sdk import AsyncSdkClient, SdkError, SdkOptions, SdkState
from stitchd_sdk.persist import cache_file, cache_key_hash, read_document, snapshot_of, write_atomically
from stitchd_sdk.store import DefinitionStore

from schemas.definitions_document import (
    FORMAT_VERSION,
    DocumentError,
    decode_document,
    encode_document,
)
from tests.unit.sdk.conftest import SEQ
from tests.unit.sdk.fakes import (
    BETA,
    ENV,
    SDK_KEY,
    ServerThread,
    bool_flag,
    delta,
    eventually,
    in_list,
    plan_is,
    snapshot,
    string_flag,
)

PRO = ("user", "u1", {"plan": "pro"})
KEY_HASH = cache_key_hash(SDK_KEY)


def _snapshot(sequence: int = SEQ) -> Any:
    flags = (bool_flag("pro-only", plan_is("pro")), bool_flag("beta-only", in_list("beta")))
    return snapshot(sequence, *flags, string_flag("colour", "red"), lists=[BETA])


@settings(deadline=None, max_examples=60)
@given(sequence=st.integers(0, 2**62), colours=st.lists(st.text(max_size=5), max_size=4))
def test_a_document_decodes_to_the_snapshot_it_was_made_of(sequence: int, colours: list[str]) -> None:
    flags = [string_flag(f"c{i}", c) for i, c in enumerate(colours)]
    msg = snapshot(sequence, bool_flag("beta-only", in_list("beta")), *flags, lists=[BETA])
    document, decoded = decode_document(encode_document(msg, written_at_ms=7, sdk_key_hash="h"))
    assert bytes(decoded) == bytes(dataclasses.replace(msg, server_timestamp_ms=7))
    assert (document.sequence, document.environment_id, document.format_version) == (sequence, str(ENV), 1)
    assert document.segment_references == {"beta-only": ["beta"]}


def test_the_store_rebuilds_the_snapshot_it_applied() -> None:
    store = DefinitionStore()
    store.apply(_snapshot())
    assert bytes(snapshot_of(store.current)) == bytes(_snapshot())


def _edited(change: Any) -> bytes:
    document = json.loads(encode_document(_snapshot(), written_at_ms=1, sdk_key_hash=KEY_HASH))
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        (b"{not json", {}),
        (b"[]", {}),
        (_edited(lambda d: d.update(format="flagd")), {}),
        (_edited(lambda d: d.update(format_version=FORMAT_VERSION + 1)), {}),
        (_edited(lambda d: d.update(sequence="5")), {}),
        (_edited(lambda d: d.update(environment_id="another")), {"environment_id": str(ENV)}),
        (_edited(lambda d: d.update(sdk_key_hash="another")), {"sdk_key_hash": KEY_HASH}),
        (_edited(lambda d: d.update(list_segments=[])), {}),  # beta-only's segment is gone
        (_edited(lambda d: d.update(segment_references={})), {}),
        (_edited(lambda d: d["flags"][0].update(key=5)), {}),
        (_edited(lambda d: d["flags"][0].update(enabled="yes")), {}),
        (_edited(lambda d: d["flags"].append("not a flag")), {}),
    ],
)
def test_anything_else_is_refused(raw: bytes, expect: dict[str, Any]) -> None:
    with pytest.raises(DocumentError):
        decode_document(raw, **expect)


def test_a_document_over_the_bound_is_refused() -> None:
    raw = encode_document(_snapshot(), written_at_ms=1)
    assert decode_document(raw, max_bytes=len(raw))[1].sequence_number == SEQ
    with pytest.raises(DocumentError):
        decode_document(raw, max_bytes=len(raw) - 1)


def test_an_unreadable_file_is_ignored_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "defs.json"
    assert read_document(path, max_bytes=1 << 20) is None  # missing: quietly nothing
    path.write_bytes(encode_document(_snapshot(), written_at_ms=1)[:-9])  # truncated
    with caplog.at_level(logging.WARNING, logger="stitchd_sdk"):
        assert read_document(path, max_bytes=1 << 20) is None
    assert "ignoring definitions file" in caplog.text


def test_atomic_writes_replace_the_file_and_leave_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "cache.json"
    write_atomically(path, b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["cache.json"]


def _options(options: SdkOptions, cache_dir: Path) -> SdkOptions:
    return dataclasses.replace(options, cache_dir=str(cache_dir), file_start_wait_s=0.5)


async def test_the_cache_follows_the_stream_and_a_restart_without_it_serves_the_cache(
    server: ServerThread, options: SdkOptions, tmp_path: Path
) -> None:
    opts = _options(options, tmp_path)
    path = cache_file(str(tmp_path), SDK_KEY)
    async with await AsyncSdkClient.connect(server.url, "http://gw.test", SDK_KEY, options=opts) as client:
        await eventually(lambda: path.exists())
        server.service.sessions[-1].push(delta(SEQ + 1, string_flag("colour", "blue")))
        await eventually(
            lambda: client.cache_writer is not None and client.cache_writer.written_sequence == SEQ + 1
        )
    document, _ = decode_document(path.read_bytes(), sdk_key_hash=KEY_HASH)
    assert (document.sequence, document.environment_id) == (SEQ + 1, str(ENV))
    assert SDK_KEY not in path.read_text()
    server.stop()
    async with await AsyncSdkClient.connect(server.url, "http://gw.test", SDK_KEY, options=opts) as client:
        assert client.status().state is SdkState.CACHED
        assert client.status().last_sequence == SEQ + 1
        assert await client.str_value("colour", PRO, "") == "blue"
        assert await client.bool_value("pro-only", PRO, False) is True
        server.start()
        await eventually(lambda: client.status().state is SdkState.FRESH)
        assert server.service.sessions[-1].request.since_sequence == SEQ + 1
        assert server.service.sessions[-1].request.environment_id == str(ENV)


async def test_another_keys_or_a_corrupt_cache_is_not_trusted(
    server: ServerThread, options: SdkOptions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opts = _options(options, tmp_path)
    path = cache_file(str(tmp_path), SDK_KEY)
    foreign = encode_document(_snapshot(SEQ + 50), written_at_ms=1, sdk_key_hash=cache_key_hash("other"))
    for content in (foreign, b"\x00garbage"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        with caplog.at_level(logging.WARNING, logger="stitchd_sdk"):
            async with await AsyncSdkClient.connect(server.url, "http://gw", SDK_KEY, options=opts) as client:
                assert client.status().state is SdkState.FRESH  # it waited for the stream's snapshot
                assert client.status().last_sequence == SEQ
                assert server.service.sessions[-1].request.since_sequence == 0
        assert "ignoring definitions file" in caplog.text
        caplog.clear()


async def test_offline_mode_evaluates_the_file_and_opens_nothing(
    server: ServerThread, options: SdkOptions, tmp_path: Path
) -> None:
    path = tmp_path / "defs.json"
    path.write_bytes(encode_document(_snapshot(), written_at_ms=1))
    client = await AsyncSdkClient.offline(str(path), options)
    try:
        assert client.status().state is SdkState.OFFLINE
        assert client.status().last_sequence == SEQ
        assert await client.bool_value("pro-only", PRO, False) is True
        client.track("revenue", ("user", "u1"), 1.0)
    finally:
        await client.aclose()
    assert server.service.sessions == []
    with pytest.raises(SdkError):
        await AsyncSdkClient.offline(str(tmp_path / "missing.json"), options)


async def test_a_bootstrap_file_starts_a_client_that_then_resumes(
    server: ServerThread, options: SdkOptions, tmp_path: Path
) -> None:
    path = tmp_path / "defs.json"
    path.write_bytes(encode_document(_snapshot(SEQ), written_at_ms=1))
    opts = dataclasses.replace(_options(options, tmp_path / "cache"), bootstrap_path=str(path))
    server.stop()
    async with await AsyncSdkClient.connect(server.url, "http://gw", SDK_KEY, options=opts) as client:
        assert (client.status().state, client.status().last_sequence) == (SdkState.CACHED, SEQ)
        server.start()
        await eventually(lambda: client.status().state is SdkState.FRESH)
        assert server.service.sessions[-1].request.since_sequence == SEQ


def test_the_document_is_plain_json_with_its_header_first() -> None:
    document = msgspec.json.decode(encode_document(_snapshot(), written_at_ms=1))
    assert list(document)[:4] == ["format", "format_version", "environment_id", "sequence"]


def test_every_sdk_state_has_its_provider_event() -> None:
    pytest.importorskip("openfeature")
    from stitchd_sdk.openfeature import _EVENT_OF_STATE

    assert set(_EVENT_OF_STATE) == set(SdkState)
