"""`stitchd edge` between SDKs and the broadcaster on the real stack: sequences pass through, an edge
restarted mid-stream loses no delta downstream, and it serves (from memory, then from its durable
cache) while the broadcaster is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from stitchd_sdk import AsyncSdkClient, SdkError, SdkOptions, SdkState, SyncUpdate

from edge.app import Edge
from stitchd.embedded import free_port
from stitchd.settings import EdgeSettings
from tests import stack as stack_fixtures
from tests.e2e.test_sdk_e2e import broadcaster_on
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Tenant
from tests.integration.sync_broadcaster.support import BOOL_FLAG, WAIT, Admin, plan_rule
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name
PRO = ("user", "u1", {"plan": "pro"})
FAST = SdkOptions(backoff_initial_s=0.05, backoff_max_s=0.2, idle_reconnect_s=3.0, send_exposures=False)


def _settings(tenant: Tenant, upstream: int, grpc_port: int, cache: Path) -> EdgeSettings:
    return EdgeSettings(
        sdk_keys=(tenant.sdk_key,), upstream_grpc=f"127.0.0.1:{upstream}", upstream_rest="http://gw.invalid",
        http_port=0, grpc_port=grpc_port, cache_dir=cache,
    )  # fmt: skip


def _edge(settings: EdgeSettings) -> Edge:
    return Edge(settings, host="127.0.0.1", heartbeat_seconds=1.0, sdk_options=FAST)


@asynccontextmanager
async def downstream(port: int, key: str) -> AsyncIterator[AsyncSdkClient]:
    options = SdkOptions(
        cache_dir=None, backoff_initial_s=0.05, backoff_max_s=0.2, idle_reconnect_s=3.0, send_exposures=False
    )
    grpc = f"http://127.0.0.1:{port}"
    async with await AsyncSdkClient.connect(
        grpc, "http://gw.invalid", key, timeout=WAIT, options=options
    ) as c:
        yield c


async def _eventually(predicate: Any) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110 - the SDK offers no event for its status
            await asyncio.sleep(0.02)


async def _flags(api: Api) -> tuple[Tenant, Admin]:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    await admin.create_flag({**BOOL_FLAG, "key": "static", "fallthrough": {"variant_key": "on"}})
    return tenant, admin


async def test_a_restarted_edge_loses_no_delta_downstream(stack: Stack, api: Api, tmp_path: Path) -> None:
    tenant, admin = await _flags(api)
    upstream, edge_port = free_port(), free_port()
    settings = _settings(tenant, upstream, edge_port, tmp_path / "edge-cache")
    env = tenant.environment_id
    async with broadcaster_on(stack, upstream) as broadcaster:
        first = _edge(settings)
        await first.start()
        try:
            async with downstream(edge_port, tenant.sdk_key) as sdk:
                updates: list[SyncUpdate] = []
                sdk.add_listener(updates.append)
                before = await admin.rules(plan_rule("pro"))
                await _eventually(lambda: sdk.status().last_sequence >= before)
                await first.stop()
                during = [await admin.toggle(False, key="static"), await admin.toggle(True, key="static")]
                during.append(await admin.toggle(False))
                second = _edge(settings)
                await second.start()  # same address, its durable cache, since_sequence upstream
                try:
                    await _eventually(lambda: sdk.status().last_sequence == broadcaster.cache.sequence(env))
                    served = await sdk.bool_details("checkout", PRO, True)
                    static = await sdk.bool_value("static", PRO, False)
                finally:
                    await second.stop()
        finally:
            await first.stop()
    assert [(u.sequence, u.is_snapshot) for u in updates] == [(before, False)] + [(s, False) for s in during]
    assert (served.value, served.reason.value, served.sequence) == (False, "DISABLED", during[-1])
    assert static is True


async def test_the_edge_serves_while_the_broadcaster_is_down(stack: Stack, api: Api, tmp_path: Path) -> None:
    tenant, admin = await _flags(api)
    position = await admin.rules(plan_rule("pro"))
    upstream = free_port()
    settings = _settings(tenant, upstream, 0, tmp_path / "edge-cache")
    env = tenant.environment_id
    body = {"flag_key": "checkout", "context_key": "u1", "attributes": {"plan": "pro"}}
    async with broadcaster_on(stack, upstream):
        edge = _edge(settings)
        await edge.start()
    try:
        [relay] = edge.relays.values()
        await _eventually(lambda: relay.sequence >= position)
        # the broadcaster is gone: memory
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.http_port}", timeout=WAIT) as http:
            sdk_key, bearer = {"x-sdk-key": tenant.sdk_key}, {"Authorization": f"Bearer {tenant.sdk_key}"}
            pro = {"context": {"targetingKey": "u1", "plan": "pro"}}
            evaluated = await http.post(f"/v1/environments/{env}/evaluate", json=body, headers=sdk_key)
            everyone = {k: v for k, v in body.items() if k != "flag_key"}
            every = await http.post(f"/v1/environments/{env}/evaluate-all", json=everyone, headers=sdk_key)
            ofrep = await http.post("/ofrep/v1/evaluate/flags/checkout", json=pro, headers=bearer)
            bulk = await http.post("/ofrep/v1/evaluate/flags", json=pro, headers=bearer)
            unchanged = {**bearer, "If-None-Match": bulk.headers["ETag"]}
            again = await http.post("/ofrep/v1/evaluate/flags", json=pro, headers=unchanged)
            stranger = await http.post(f"/v1/environments/{env}/evaluate", json=body,
                                       headers={"x-sdk-key": tenant.sdk_key + "x"})  # fmt: skip
        async with downstream(edge.grpc_port, tenant.sdk_key) as sdk:
            fresh = sdk.status()
            assert await sdk.bool_value("checkout", PRO, False) is True
        with pytest.raises(SdkError):
            async with downstream(edge.grpc_port, tenant.sdk_key + "x"):
                pass
    finally:
        await edge.stop()
    assert (evaluated.status_code, evaluated.json()["variant_key"], evaluated.json()["sequence"]) == (
        200, "on", position,
    )  # fmt: skip
    assert every.status_code == 200
    assert every.json()["sequence"] == position
    assert (ofrep.status_code, ofrep.json()["variant"], ofrep.json()["metadata"]["ruleId"]) == (
        200,
        "on",
        "pro",
    )
    assert (bulk.status_code, again.status_code) == (200, 304)
    assert stranger.status_code == 401
    assert set(stranger.json()) == {"error", "code"}
    assert (fresh.state, fresh.last_sequence) == (SdkState.FRESH, position)
    # restarted with the broadcaster still down: the durable cache
    async with _edge(settings) as restarted:
        [relay] = restarted.relays.values()
        assert (relay.client.status().state, relay.sequence) == (SdkState.CACHED, position)
        async with downstream(restarted.grpc_port, tenant.sdk_key) as sdk:
            assert (await sdk.bool_details("checkout", PRO, False)).sequence == position
