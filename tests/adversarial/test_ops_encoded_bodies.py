"""Compressed and encoded bodies (seed 004): gzip and base64 on the SDK routes of the gateway process;
a decompression bomb is refused by its decoded size without ever being inflated whole."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import tracemalloc
import zlib
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.encodings import BadEncodingError, BodyTooLargeError, decode_body, gunzip
from stitchd.embedded import free_port
from stitchd.processes import running
from tests import stack as stack_fixtures
from tests.integration.gateway import support
from tests.integration.gateway.support import Api
from tests.integration.ops.support import get_when
from tests.integration.sync_broadcaster.support import Admin
from tests.stack import Stack

LIMIT = 64 * 1024
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name


def _bomb(decoded_bytes: int) -> bytes:
    """A gzip stream of `decoded_bytes` zeros, compressed chunk by chunk (about 1000:1)."""
    out = zlib.compressobj(9, wbits=31)
    chunk = bytes(1 << 20)
    parts = [out.compress(chunk) for _ in range(decoded_bytes >> 20)]
    return b"".join(parts) + out.flush()


def test_a_bomb_is_refused_while_inflating_never_inflated_whole() -> None:
    bomb = _bomb(256 << 20)  # 256 MiB of zeros in ~250 KiB
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLargeError):
            gunzip(bomb, LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"inflating used {peak} bytes"


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=4096), encodings=st.lists(st.sampled_from(["gzip", "base64"]), max_size=3))
def test_decoding_undoes_any_stack_of_encodings(body: bytes, encodings: list[str]) -> None:
    data = body
    for encoding in encodings:
        data = gzip.compress(data) if encoding == "gzip" else base64.b64encode(data)
    assert decode_body(data, encodings, LIMIT) == body


@settings(max_examples=100, deadline=None)
@given(size=st.integers(0, 3 * LIMIT))
def test_the_decoded_size_is_capped_whatever_the_encoding(size: int) -> None:
    body = b"a" * size
    for encoded, encodings in [(gzip.compress(body), ["gzip"]), (base64.b64encode(body), ["base64"])]:
        if size <= LIMIT:
            assert decode_body(encoded, encodings, LIMIT) == body
        else:
            with pytest.raises(BodyTooLargeError):
                decode_body(encoded, encodings, LIMIT)


@pytest.mark.parametrize("garbage", [b"not gzip at all", gzip.compress(b'{"a": 1}')[:-6]])
def test_malformed_gzip_is_a_bad_encoding(garbage: bytes) -> None:
    with pytest.raises(BadEncodingError):
        gunzip(garbage, LIMIT)


@pytest.mark.integration
async def test_sdk_routes_of_the_gateway_process_accept_gzip_and_base64(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    settings_ = dataclasses.replace(stack.settings, http_port=free_port())
    env = tenant.environment_id
    evaluate = {"flag_key": "checkout", "context_key": "u1"}
    exposure = {"flag_key": "checkout", "variant_key": "off", "context_key": "u1", "sequence": 1}
    event = {"metric_key": "nothing-registered", "context_key": "u1"}
    check = {"segment_key": "no-list", "context_type": "user", "context_key": "u1"}
    async with running(["gateway"], settings_, stack.resources):
        base = f"http://127.0.0.1:{settings_.http_port}"
        await get_when(base + "/_readiness", lambda r: r.status_code == 200)
        async with httpx.AsyncClient(base_url=base, headers={"x-sdk-key": tenant.sdk_key}) as client:

            async def post(path: str, body: Any, encode: str, query: str = "") -> httpx.Response:
                raw = json.dumps(body).encode()
                data, headers = raw, {"content-type": "application/json"}
                if encode == "gzip":
                    data, headers["content-encoding"] = gzip.compress(raw), "gzip"
                elif encode == "base64":
                    data, headers["content-encoding"] = base64.b64encode(raw), "base64"
                elif encode == "gzip,base64":
                    data, headers["content-encoding"] = base64.b64encode(gzip.compress(raw)), "gzip, base64"
                elif encode == "query-base64":
                    data = base64.b64encode(raw)
                return await client.post(
                    f"/v1/environments/{env}{path}{query}", content=data, headers=headers
                )

            answers = {
                "evaluate gzip": await post("/evaluate", evaluate, "gzip"),
                "evaluate base64": await post("/evaluate", evaluate, "base64"),
                "evaluate gzip+base64": await post("/evaluate", evaluate, "gzip,base64"),
                "evaluate ?compression": await post(
                    "/evaluate", evaluate, "query-base64", "?compression=base64"
                ),
                "exposures gzip": await post("/exposures/batch", {"exposures": [exposure]}, "gzip"),
                "events gzip": await post("/events", event, "gzip"),
            }
            list_check = await post("/segments/list-check", check, "gzip")
            # decoded, then decoded strictly as JSON: an integer is no flag key, gzipped or not
            loose = await post("/evaluate", {**evaluate, "flag_key": 1}, "gzip")
            bomb = await client.post(
                f"/v1/environments/{env}/evaluate",
                content=_bomb(64 << 20),
                headers={"content-encoding": "gzip", "content-type": "application/json"},
            )
            unknown = await client.post(
                f"/v1/environments/{env}/evaluate", content=b"{}", headers={"content-encoding": "br"}
            )
            corrupt = await client.post(
                f"/v1/environments/{env}/evaluate",
                content=b"\x1f\x8b garbage",
                headers={"content-encoding": "gzip"},
            )
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
    assert answers["evaluate gzip"].json()["variant_key"] == "off"
    assert answers["exposures gzip"].json()["accepted_count"] == 1
    assert answers["events gzip"].json()["rejected_keys"] == ["nothing-registered"]
    assert list_check.status_code == 404  # decoded and understood: there is no such list segment
    assert (loose.status_code, loose.json()["code"]) == (400, "INVALID_ARGUMENT")
    assert "flag_key" in loose.json()["error"]
    assert (bomb.status_code, bomb.json()["code"]) == (413, "RESOURCE_EXHAUSTED")
    assert (unknown.status_code, unknown.json()["code"]) == (400, "INVALID_ARGUMENT")
    assert (corrupt.status_code, corrupt.json()["code"]) == (400, "INVALID_ARGUMENT")
