"""The experiment's stats interval over REST, the stats worker scheduling by it, derived `is_stale`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stats_worker.clickhouse_schema import ensure_schema
from stats_worker.scheduler import Recomputer, Scheduler, ScheduleSettings
from tests.integration.gateway.flags_support import BOOL_FLAG, Tenant, ok, tenant_fixture  # noqa: F401
from tests.integration.stats_worker.worker_support import Clock
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


def _path(t: Tenant, rest: str = "") -> str:
    return f"/v1/environments/{t.env}/experiments{rest}"


async def _experiment(t: Tenant, **extra: Any) -> dict[str, Any]:
    await ok(await t.call("POST", t.flags(), BOOL_FLAG), 201)
    body = {"name": "Checkout", "flag_key": "new-checkout", "variant_keys": ["off", "on"], **extra}
    return await ok(await t.call("POST", _path(t), body), 201)  # type: ignore[no-any-return]


async def _move(t: Tenant, experiment_id: str, status: str) -> dict[str, Any]:
    current = await ok(await t.call("GET", _path(t, f"/{experiment_id}")))
    body = {"new_status": status, "version": current["version"]}
    return await ok(await t.call("POST", _path(t, f"/{experiment_id}/transition"), body))  # type: ignore[no-any-return]


async def test_the_stats_interval_is_set_on_create_and_changes_until_the_experiment_concludes(
    tenant: Tenant,
) -> None:
    created = await _experiment(tenant, stats_interval_minutes=5)
    base = _path(tenant, f"/{created['id']}")
    assert created["stats_interval_minutes"] == 5
    assert (await ok(await tenant.call("GET", base)))["stats_interval_minutes"] == 5
    listed = await ok(await tenant.call("GET", _path(tenant)))
    assert [e["stats_interval_minutes"] for e in listed["experiments"]] == [5]
    active = await _move(tenant, created["id"], "ACTIVE")
    changed = await ok(
        await tenant.call("PUT", base, {"version": active["version"], "stats_interval_minutes": 15})
    )
    assert changed["stats_interval_minutes"] == 15
    assert (await ok(await tenant.call("GET", base)))["stats_interval_minutes"] == 15
    for bad in (0, -1, 10_081, 2.5):
        refused = await tenant.call(
            "PUT", base, {"version": changed["version"], "stats_interval_minutes": bad}
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "INVALID_ARGUMENT"
    concluded = await _move(tenant, created["id"], "CONCLUDED")
    frozen = await tenant.call("PUT", base, {"version": concluded["version"], "stats_interval_minutes": 30})
    assert frozen.json()["code"] == "FAILED_PRECONDITION"
    default = await ok(
        await tenant.call(
            "POST", _path(tenant), {"name": "D", "flag_key": "new-checkout", "variant_keys": ["off", "on"]}
        ),
        201,
    )
    assert default["stats_interval_minutes"] == 60


async def test_an_experiment_created_with_five_minutes_is_scheduled_five_minutes_after_each_computation(
    tenant: Tenant, chdb_client: Any, ch_database: str
) -> None:
    created = await _experiment(tenant, stats_interval_minutes=5)
    await _move(tenant, created["id"], "ACTIVE")
    await asyncio.to_thread(ensure_schema, chdb_client, ch_database)
    pool = tenant.stack.pool
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    settings = ScheduleSettings()
    recomputer = Recomputer(pool, chdb_client, clock=clock, settings=settings, database=ch_database)
    scheduler = Scheduler(recomputer, pool, clock=clock, settings=settings)
    assert await scheduler.tick() == 1
    results = _path(tenant, f"/{created['id']}/results")
    first = await ok(await tenant.call("GET", results))
    assert first["computation_status"] == "succeeded"
    assert first["computed_at_ms"] == int(clock.now.timestamp() * 1000)
    assert first["next_run_at_ms"] - first["computed_at_ms"] == 5 * 60_000
    assert first["is_stale"] is False
    clock.now += timedelta(minutes=4, seconds=59)
    assert await scheduler.tick() == 0
    clock.now += timedelta(seconds=1)
    assert await scheduler.tick() == 1
    second = await ok(await tenant.call("GET", results))
    assert second["computed_at_ms"] == first["computed_at_ms"] + 5 * 60_000
    assert second["next_run_at_ms"] == second["computed_at_ms"] + 5 * 60_000


async def test_results_read_as_stale_when_the_worker_is_overdue_or_the_iteration_ended_since(
    tenant: Tenant,
) -> None:
    created = await _experiment(tenant)
    await _move(tenant, created["id"], "ACTIVE")
    results = _path(tenant, f"/{created['id']}/results")

    async def store(computed_ago: timedelta, next_in: timedelta | None) -> dict[str, Any]:
        now = datetime.now(UTC)
        next_run = None if next_in is None else now + next_in
        async with tenant.stack.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO rm_experiment_results (experiment_id, iteration_number, environment_id,"
                " computation_status, computed_at, next_run_at, is_stale)"
                " VALUES (%s, 1, %s, 'succeeded', %s, %s, false)"
                " ON CONFLICT (experiment_id, iteration_number) DO UPDATE"
                " SET computed_at = EXCLUDED.computed_at, next_run_at = EXCLUDED.next_run_at",
                (created["id"], tenant.env, now - computed_ago, next_run),
            )
        return await ok(await tenant.call("GET", results))  # type: ignore[no-any-return]

    assert (await store(timedelta(minutes=30), timedelta(minutes=30)))["is_stale"] is False
    assert (await store(timedelta(minutes=62), timedelta(minutes=-2)))["is_stale"] is False  # within grace
    overdue = await store(timedelta(hours=2), timedelta(hours=-1))
    assert overdue["is_stale"] is True
    assert overdue["computation_status"] == "succeeded"
    await store(timedelta(minutes=1), timedelta(minutes=59))
    await _move(tenant, created["id"], "PAUSED")  # the iteration ends after the numbers were computed
    assert (await ok(await tenant.call("GET", results)))["is_stale"] is True
    assert (await store(timedelta(0), None))["is_stale"] is False  # the final numbers
