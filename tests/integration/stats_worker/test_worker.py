"""The stats worker against real Postgres, NATS and chdb: the running worker and the results schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from nats.js import JetStreamContext
from psycopg_pool import AsyncConnectionPool

from schemas import ingest
from stats_worker.app import StatsWorkerSettings, build_stats_worker
from stats_worker.consumer import ConsumerSettings, consumer_config
from stats_worker.pg import IterationRef
from tests.integration.stats_worker import worker_support
from tests.integration.stats_worker.worker_support import (
    Clock,
    Experiment,
    add_job,
    check_results,
    loaded_experiment,
    next_day,
    parts,
    result_row,
    until_finished,
    until_stored,
)

pytestmark = pytest.mark.integration
pool = worker_support.pool  # fixture, found by name


async def test_the_running_worker_drains_ingest_and_completes_a_recompute_job(
    pool: AsyncConnectionPool[Any], pg_url: str, nats_js: JetStreamContext, nats_url: str,
    chdb_client: Any, ch_database: str,
) -> None:  # fmt: skip
    exp = Experiment()
    await exp.insert(pool)
    exposures, events = exp.messages()
    messages: list[ingest.IngestMsg] = [*exposures, *events]
    for msg in messages:
        await nats_js.publish(
            ingest.subject_for(msg), ingest.encode(msg), headers={"Nats-Msg-Id": msg.event_id}
        )
    settings = StatsWorkerSettings(
        database_url=pg_url, nats_url=nats_url, clickhouse_url="chdb://unused", database=ch_database,
        consumer=ConsumerSettings(fetch_timeout=0.2, config=consumer_config(durable=f"w{uuid4().hex[:8]}")),
    )  # fmt: skip
    async with build_stats_worker(settings, client=chdb_client):
        await until_stored(chdb_client, ch_database, exp.env, len(exposures) + len(events))
        job_id = await add_job(pool, exp, datetime.now(UTC))
        job = await until_finished(pool, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["started_at"] is not None
    assert job["completed_at"] >= job["started_at"]
    check_results(await result_row(pool, exp.id))


async def test_the_schedule_computes_running_iterations_every_interval_and_ended_ones_once_more(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    exp = await loaded_experiment(pool, chdb_client, ch_database)
    clock = next_day()
    _, scheduler, _ = parts(pool, chdb_client, ch_database, clock)
    assert await scheduler.tick() == 1
    first = await result_row(pool, exp.id)
    check_results(first)
    assert (first["computed_at"], first["next_run_at"]) == (clock.now, clock.now + timedelta(minutes=60))
    clock.now += timedelta(minutes=59)
    assert await scheduler.tick() == 0
    clock.now += timedelta(minutes=2)
    assert await scheduler.tick() == 1
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE rm_experiment_iterations SET ended_at = %s", (clock.now + timedelta(seconds=1),)
        )
    clock.now += timedelta(minutes=1)
    assert await scheduler.tick() == 1  # the final numbers of the ended iteration
    final = await result_row(pool, exp.id)
    assert final["next_run_at"] is None
    assert final["is_stale"] is False
    clock.now += timedelta(days=3)
    assert await scheduler.tick() == 0


async def test_each_experiment_is_computed_every_its_own_interval(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    fast = await loaded_experiment(pool, chdb_client, ch_database, interval_minutes=5)
    hourly = Experiment()
    await hourly.insert(pool)
    clock = next_day()
    _, scheduler, _ = parts(pool, chdb_client, ch_database, clock)
    assert await scheduler.tick() == 2
    for exp, minutes in [(fast, 5), (hourly, 60)]:
        row = await result_row(pool, exp.id)
        assert (
            row["next_run_at"]
            == row["computed_at"] + timedelta(minutes=minutes)
            == clock.now + timedelta(minutes=minutes)
        )
    clock.now += timedelta(minutes=5)
    assert await scheduler.tick() == 1
    assert (await result_row(pool, fast.id))["computed_at"] == clock.now
    assert (await result_row(pool, hourly.id))["computed_at"] == clock.now - timedelta(minutes=5)


async def test_a_shortened_interval_applies_without_waiting_for_the_old_next_run(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    exp = await loaded_experiment(pool, chdb_client, ch_database)
    clock = next_day()
    _, scheduler, _ = parts(pool, chdb_client, ch_database, clock)
    assert await scheduler.tick() == 1
    computed = clock.now
    async with pool.connection() as conn:
        await conn.execute("UPDATE rm_experiments SET stats_interval_minutes = 10 WHERE id = %s", (exp.id,))
    clock.now = computed + timedelta(minutes=9)
    assert await scheduler.tick() == 0
    clock.now = computed + timedelta(minutes=10)
    assert await scheduler.tick() == 1
    row = await result_row(pool, exp.id)
    assert (row["computed_at"], row["next_run_at"]) == (clock.now, clock.now + timedelta(minutes=10))


async def test_overdue_results_are_flagged_stale(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    exp = await loaded_experiment(pool, chdb_client, ch_database)
    clock = next_day()
    recomputer, _, _ = parts(pool, chdb_client, ch_database, clock)
    await recomputer.run(IterationRef(exp.id, 1, exp.env))
    later = Clock(clock.now + timedelta(hours=2))
    # A scheduler whose every computation fails: the overdue results are flagged, never silently kept.
    _, broken, _ = parts(pool, chdb_client, "missing_database", later)
    assert await broken.tick() == 0
    row = await result_row(pool, exp.id)
    assert row["is_stale"] is True
    assert row["computation_status"] == "failed"
    assert "missing_database" in row["error"]
    check_results({**row, "computation_status": "succeeded", "error": ""})  # the last good numbers stay
