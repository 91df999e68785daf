"""What did every SDK see: the broadcasters record each stream, GET .../sdk-connections answers with the
sequence each served, its lag, staleness (a replica whose cache stopped) and what it served `?at=`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from stitchd_sdk import AsyncSdkClient
from stitchd_sdk.types import SdkOptions

from tests.integration.gateway.support import Api, Tenant, assert_envelope
from tests.integration.ops.support import WAIT
from tests.integration.sync_broadcaster.support import BOOL_FLAG, Admin, broadcaster, sdk
from tests.stack import Stack

pytestmark = pytest.mark.integration


async def _connections(api: Api, tenant: Tenant, query: str = "") -> dict[str, Any]:
    path = f"/v1/environments/{tenant.environment_id}/sdk-connections{query}"
    body: dict[str, Any] = await api.ok("GET", path, token=tenant.token)
    return body


async def _until(api: Api, tenant: Tenant, done: Any, query: str = "") -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not done(body := await _connections(api, tenant, query)):
        assert loop.time() < deadline, body
        await asyncio.sleep(0.1)
    return body


def _by_instance(body: dict[str, Any], instance: str) -> dict[str, Any] | None:
    return next((c for c in body["connections"] if c["instance_id"] == instance), None)


async def test_every_stream_is_listed_with_what_it_served_and_a_stuck_replica_shows_as_stale(
    stack: Stack, api: Api
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    first = await admin.create_flag()
    transport = httpx.ASGITransport(app=cast(Any, api.client._transport).app)
    options = SdkOptions(send_exposures=False, async_http_transport=transport)
    async with broadcaster(stack) as healthy, broadcaster(stack) as stuck:
        grpc = f"http://127.0.0.1:{healthy.port}"
        async with (
            await AsyncSdkClient.connect(
                grpc, "http://gw", tenant.sdk_key, timeout=WAIT, options=options
            ) as client,
            sdk(stuck.port, tenant.sdk_key) as replica_sdk,
        ):
            await replica_sdk.next()  # its snapshot
            instance = client._sync.instance_id
            listed = await _until(api, tenant, lambda b: len(b["connections"]) == 2)
            before_change = datetime.now(UTC)
            stuck._tasks[0].cancel()  # the replica's cache stops following the log
            await asyncio.gather(stuck._tasks[0], return_exceptions=True)
            second = await admin.create_flag({**BOOL_FLAG, "key": "later"})
            await _until(api, tenant, lambda b: (_by_instance(b, instance) or {}).get("sequence") == second)
            api.clock.offset = timedelta(seconds=40)  # the missed change is now older than the SDK's grace
            now = await _connections(api, tenant)
            then = await _connections(api, tenant, f"?at={before_change.isoformat().replace('+', '%2B')}")
        api.clock.offset = timedelta()
        closed = await _until(api, tenant, lambda b: all(c["state"] == "closed" for c in b["connections"]))
    mine = _by_instance(listed, instance)
    assert mine is not None
    assert (mine["sdk_key_id"], mine["state"]) == (str(tenant.sdk_key_id), "live")
    assert mine["sdk_version"].startswith("python/")
    assert now["environment_sequence"] == second
    healthy_now = _by_instance(now, instance)
    [replica_now] = [c for c in now["connections"] if c["instance_id"] == ""]  # the raw stream sends none
    assert healthy_now is not None
    assert (healthy_now["sequence"], healthy_now["lag"], healthy_now["stale"]) == (second, 0, False)
    assert (replica_now["sequence"], replica_now["lag"] > 0, replica_now["stale"]) == (first, True, True)
    assert replica_now["lag_seconds"] >= 30
    assert then["environment_sequence"] == first
    assert {c["sequence"] for c in then["connections"]} == {first}  # both served the first then
    assert {c["lag"] for c in then["connections"]} == {0}
    assert len(closed["connections"]) == 2


async def test_connections_are_tenant_scoped_and_arguments_checked(api: Api) -> None:
    tenant, other = await api.tenant(), await api.tenant("Other")
    path = f"/v1/environments/{tenant.environment_id}/sdk-connections"
    assert (await api.call("GET", path, token=other.token)).status_code in {403, 404}
    assert_envelope(await api.call("GET", path + "?closed_within_hours=-1", token=tenant.token), 400)
    assert_envelope(await api.call("GET", path + "?at=yesterday", token=tenant.token), 400)
    assert (await _connections(api, tenant))["connections"] == []
