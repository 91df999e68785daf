"""Definitions on disk over the real stack: `stitchd export`, an SDK started offline from its document,
and an SDK restarted while the broadcaster is down serving its durable cache, then catching up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest
from stitchd_sdk import AsyncSdkClient, SdkOptions, SdkState

from readmodels.definitions import DefinitionsCache
from schemas.definitions_document import decode_document
from stitchd import export
from stitchd.embedded import free_port
from sync_broadcaster.wire import snapshot_message
from tests import stack as stack_fixtures
from tests.e2e.test_sdk_e2e import broadcaster_on
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Tenant
from tests.integration.sync_broadcaster.support import BOOL_FLAG, WAIT, Admin
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name
REST = "http://gateway.invalid"  # nothing here asks the gateway
PRO = ("user", "u1", {"plan": "pro"})
FREE = ("user", "u2", {"plan": "free"})
IN_PROS = {"kind": "leaf", "attribute": {"context_type": "user"}, "op": "in_segment", "value": "pros"}
PROS = {
    "key": "pros",
    "kind": "rule",
    "condition": {
        "kind": "leaf",
        "attribute": {"context_type": "user", "name": "plan"},
        "op": "eq",
        "value": "pro",
    },
}


async def _tenant(api: Api) -> tuple[Tenant, int]:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.segment(PROS)
    await admin.create_flag()
    await admin.create_flag({**BOOL_FLAG, "key": "static", "fallthrough": {"variant_key": "on"}})
    position = await admin.rules({"id": "pros", "condition": IN_PROS, "serve": {"variant_key": "on"}})
    return tenant, position


async def _eventually(predicate: Any) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110 - the SDK offers no event for its status
            await asyncio.sleep(0.02)


async def test_export_writes_the_snapshot_the_broadcaster_would_send(
    stack: Stack, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, position = await _tenant(api)
    await api.tenant()  # a second "Web/production": names are not unique across organisations
    await stack.settle()
    data = await export.export(stack.pg_url, str(tenant.environment_id))
    document, snapshot = decode_document(data, environment_id=str(tenant.environment_id))
    cache = DefinitionsCache()
    await cache.catch_up(stack.store)
    expected = cache.snapshot(tenant.environment_id)
    assert expected is not None
    assert bytes(snapshot) == bytes(snapshot_message(expected, document.written_at_ms))
    assert document.sequence == expected.sequence >= 1
    assert document.segment_references == {"checkout": ["pros"]}
    by_name = await export.export(stack.pg_url, f"{tenant.project_id}/production")
    assert decode_document(by_name)[1].flags == snapshot.flags
    with pytest.raises(export.ExportError, match="give the environment id"):
        await export.export(stack.pg_url, "Web/production")
    with pytest.raises(export.ExportError, match="not found"):
        await export.export(stack.pg_url, "00000000-0000-0000-0000-00000000dead")
    monkeypatch.setenv("DATABASE_URL", stack.pg_url)
    out = tmp_path / "defs.json"
    assert (
        await asyncio.to_thread(
            export.main, ["--environment", str(tenant.environment_id), "--output", str(out)]
        )
        == 0
    )
    client = await AsyncSdkClient.offline(str(out))
    try:
        assert client.status().state is SdkState.OFFLINE
        assert (await client.bool_details("checkout", PRO, False)).rule_id == "pros"
        assert await client.bool_value("checkout", FREE, True) is False
        assert client.status().last_sequence == position
    finally:
        await client.aclose()


async def test_a_restart_while_the_broadcaster_is_down_serves_the_cache_then_catches_up(
    stack: Stack, api: Api, tmp_path: Path
) -> None:
    tenant, _ = await _tenant(api)
    admin = Admin(api, tenant)
    port = free_port()
    options = SdkOptions(
        cache_dir=str(tmp_path / "cache"), backoff_initial_s=0.05, backoff_max_s=0.2, idle_reconnect_s=3.0
    )
    grpc = f"http://127.0.0.1:{port}"
    first = broadcaster_on(stack, port)
    await first.start()
    try:
        async with await AsyncSdkClient.connect(
            grpc, "http://gw.invalid", tenant.sdk_key, options=options
        ) as sdk:
            cached_at = await admin.toggle(False, key="static")
            await _eventually(lambda: sdk.status().last_sequence >= cached_at)
            writer = sdk.cache_writer
            assert writer is not None
            await _eventually(lambda: writer.written_sequence >= cached_at)
    finally:
        await first.stop()
    changed_at = await admin.toggle(True, key="static")  # while no broadcaster runs
    restarted = await AsyncSdkClient.connect(grpc, REST, tenant.sdk_key, options=options)
    try:
        status = restarted.status()
        assert (status.state, status.last_sequence) == (SdkState.CACHED, cached_at)
        assert await restarted.bool_value("static", PRO, True) is False  # the cached definitions
        assert (await restarted.bool_details("checkout", PRO, False)).rule_id == "pros"
        async with broadcaster_on(stack, port):
            await _eventually(lambda: restarted.status().state is SdkState.FRESH)
            await _eventually(lambda: restarted.status().last_sequence >= changed_at)
            assert await restarted.bool_value("static", PRO, False) is True
    finally:
        await restarted.aclose()


async def test_a_cache_of_another_environment_is_not_served(stack: Stack, api: Api, tmp_path: Path) -> None:
    ours, _ = await _tenant(api)
    theirs, _ = await _tenant(api)
    await Admin(api, theirs).toggle(False, key="static")
    await stack.settle()
    foreign = tmp_path / "theirs.json"
    foreign.write_bytes(await export.export(stack.pg_url, str(theirs.environment_id)))
    port = free_port()
    options = SdkOptions(
        cache_dir=None, bootstrap_path=str(foreign), backoff_initial_s=0.05, backoff_max_s=0.2
    )
    async with broadcaster_on(stack, port):
        grpc = f"http://127.0.0.1:{port}"
        async with await AsyncSdkClient.connect(
            grpc, "http://gw.invalid", ours.sdk_key, options=options
        ) as sdk:
            await _eventually(lambda: sdk.status().state is SdkState.FRESH)
            assert sdk.status().environment_id == str(ours.environment_id)
            assert await sdk.bool_value("static", PRO, False) is True  # ours, not theirs (off)


async def _route(api: Api, tenant: Tenant, query: str = "") -> bytes:
    path = f"/v1/environments/{tenant.environment_id}/definitions{query}"
    response = await api.call("GET", path, token=tenant.token)
    assert response.status_code == 200, response.text
    return response.content


async def test_export_writes_the_definitions_routes_document(stack: Stack, api: Api) -> None:
    tenant, position = await _tenant(api)
    later = await Admin(api, tenant).toggle(False, key="static")
    await stack.settle()
    env = str(tenant.environment_id)
    for query, at in (("", None), (f"?as_of_sequence={position}", position)):
        exported = (
            await export.export(stack.pg_url, env)
            if at is None
            else await export.export(stack.pg_url, env, position=at)
        )
        answered = await _route(api, tenant, query)
        assert msgspec.json.format(answered, indent=1) == exported  # the same bytes, bar indentation
        document, _ = decode_document(answered, environment_id=env)
        assert document.sequence == (later if at is None else position)


async def test_a_document_fetched_as_of_a_sequence_bootstraps_an_offline_sdk(
    stack: Stack, api: Api, tmp_path: Path
) -> None:
    tenant, position = await _tenant(api)
    admin = Admin(api, tenant)
    await admin.toggle(False, key="static")
    await admin.toggle(False)
    document = tmp_path / "as-of.json"
    document.write_bytes(await _route(api, tenant, f"?as_of_sequence={position}"))
    client = await AsyncSdkClient.offline(str(document))
    try:
        assert client.status().last_sequence == position
        assert (await client.bool_details("checkout", PRO, False)).rule_id == "pros"  # on at N, off now
        assert await client.bool_value("checkout", FREE, True) is False
        assert await client.bool_value("static", FREE, False) is True  # on at N, off now
    finally:
        await client.aclose()
