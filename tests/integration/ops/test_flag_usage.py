"""Evaluation analytics end to end: server-side evaluations and SDK exposures -> JetStream -> ClickHouse
(hourly materialized view) -> the stats worker's roll-up -> GET .../usage and ?stale=true."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from stats_worker.app import StatsWorkerSettings, build_stats_worker
from stats_worker.usage import UsageSettings
from stitchd.embedded import free_port
from stitchd.processes import running
from tests.integration.gateway.support import Api, Tenant, assert_envelope
from tests.integration.ops.support import WAIT, get_when
from tests.integration.sync_broadcaster.support import BOOL_FLAG, Admin
from tests.stack import Stack

pytestmark = pytest.mark.integration


@asynccontextmanager
async def worker(stack: Stack, chdb_client: Any, ch_database: str) -> AsyncIterator[None]:
    config = StatsWorkerSettings(
        database_url=stack.pg_url,
        nats_url=stack.nats_url,
        clickhouse_url="chdb://unused",
        database=ch_database,
        usage=UsageSettings(every=0.2),
    )
    async with build_stats_worker(config, client=chdb_client):
        yield


async def _usage(api: Api, tenant: Tenant, key: str, query: str = "") -> httpx.Response:
    path = f"/v1/environments/{tenant.environment_id}/flags/{key}/usage{query}"
    return await api.call("GET", path, token=tenant.token)


async def _until_total(api: Api, tenant: Tenant, key: str, total: int, query: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT * 3
    while True:
        response = await _usage(api, tenant, key, query)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["total"] >= total:
            return body
        assert loop.time() < deadline, body
        await asyncio.sleep(0.2)


async def _stale(api: Api, tenant: Tenant, days: int) -> list[str]:
    path = f"/v1/environments/{tenant.environment_id}/flags?stale=true&days={days}"
    return [f["key"] for f in (await api.ok("GET", path, token=tenant.token))["flags"]]


async def test_evaluations_are_counted_per_flag_variant_and_hour_and_unused_flags_show_as_stale(
    stack: Stack, api: Api, chdb_client: Any, ch_database: str
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    await admin.create_flag({**BOOL_FLAG, "key": "legacy"})
    settings = dataclasses.replace(stack.settings, http_port=free_port())
    future_ms = int((time.time() + 3 * 86400) * 1000)  # an SDK evaluation three days on (see the clock)
    env = tenant.environment_id
    async with worker(stack, chdb_client, ch_database), running(["gateway"], settings, stack.resources):
        base = f"http://127.0.0.1:{settings.http_port}"
        await get_when(base + "/_readiness", lambda r: r.status_code == 200)
        async with httpx.AsyncClient(base_url=base, headers={"x-sdk-key": tenant.sdk_key}) as client:
            for _ in range(3):
                body = {"flag_key": "checkout", "context_key": "u1"}
                assert (await client.post(f"/v1/environments/{env}/evaluate", json=body)).status_code == 200
            exposure = {"flag_key": "checkout", "variant_key": "on", "context_key": "u2", "sequence": 1}
            batch = {"exposures": [exposure, {**exposure, "context_key": "u3", "timestamp_ms": future_ms}]}
            assert (
                await client.post(f"/v1/environments/{env}/exposures/batch", json=batch)
            ).status_code == 200
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        window = (
            f"?from={(hour - timedelta(hours=1)).isoformat()}&to={(hour + timedelta(days=4)).isoformat()}"
        )
        usage = await _until_total(api, tenant, "checkout", 5, window.replace("+", "%2B"))
    by_point = {(p["hour"][:13], p["variant_key"]): p["evaluations"] for p in usage["series"]}
    this_hour = hour.isoformat()[:13]
    assert by_point[(this_hour, "off")] == 3  # the server-side evaluations (fallthrough "off")
    assert by_point[(this_hour, "on")] == 1
    assert sum(by_point.values()) == usage["total"] == 5
    legacy = await _usage(api, tenant, "legacy")
    assert (legacy.json()["total"], legacy.json()["series"]) == (0, [])
    assert await _stale(api, tenant, 1) == []  # both were created less than a day ago
    api.clock.offset = timedelta(days=3, hours=1)  # three days on: only the SDK's late evaluation is recent
    tenant.token = (await api.login(tenant.admin_email))["access_token"]
    assert await _stale(api, tenant, 1) == ["legacy"]
    assert await _stale(api, tenant, 5) == []


async def test_usage_arguments_are_checked(api: Api) -> None:
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    assert_envelope(await _usage(api, tenant, "nope"), 404, "NOT_FOUND")
    reversed_range = "?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"
    assert_envelope(await _usage(api, tenant, "checkout", reversed_range), 400, "INVALID_ARGUMENT")
    too_long = "?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"
    assert_envelope(await _usage(api, tenant, "checkout", too_long), 400, "INVALID_ARGUMENT")
    path = f"/v1/environments/{tenant.environment_id}/flags?stale=true&days=0"
    assert_envelope(await api.call("GET", path, token=tenant.token), 400, "INVALID_ARGUMENT")
    other = await api.tenant("Other")
    cross = f"/v1/environments/{tenant.environment_id}/flags/checkout/usage"
    assert (await api.call("GET", cross, token=other.token)).status_code in {403, 404}
