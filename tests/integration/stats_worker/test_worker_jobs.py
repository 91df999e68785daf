"""Recompute jobs against real Postgres and chdb: pending -> running -> succeeded | failed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from psycopg_pool import AsyncConnectionPool

from stats_worker.jobs import JobSettings
from tests.integration.stats_worker import worker_support
from tests.integration.stats_worker.worker_support import (
    START,
    Experiment,
    add_job,
    loaded_experiment,
    next_day,
    parts,
    rows,
)

pytestmark = pytest.mark.integration
pool = worker_support.pool  # fixture, found by name


async def test_a_failing_job_records_its_error(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    exp = Experiment()
    await exp.insert(pool)
    draft = Experiment()
    await draft.insert(pool, status="DRAFT")
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM rm_experiment_iterations WHERE experiment_id = %s", (draft.id,))
    clock = next_day()
    _, _, runner = parts(pool, chdb_client, "missing_database", clock)
    cases = [
        (await add_job(pool, draft, START), "no iteration"),
        (await add_job(pool, exp, START + timedelta(seconds=1)), "missing_database"),
    ]
    for job_id, fragment in cases:
        assert (await runner.run_once()) is not None
        [job] = await rows(pool, "SELECT * FROM stats_jobs WHERE id = %s", job_id)
        assert job["status"] == "failed"
        assert fragment in job["error"]
        assert job["started_at"] == job["completed_at"] == clock.now
    assert await runner.run_once() is None


async def test_concurrent_runners_never_take_the_same_job(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    experiments = [await loaded_experiment(pool, chdb_client, ch_database) for _ in range(4)]
    clock = next_day()
    jobs = {await add_job(pool, exp) for exp in experiments}  # one pending job per experiment
    runners = [parts(pool, chdb_client, ch_database, clock)[2] for _ in range(3)]
    taken: list[UUID] = []
    while True:
        claimed = await asyncio.gather(*(r.run_once() for r in runners))
        if all(c is None for c in claimed):
            break
        taken += [c.id for c in claimed if c is not None]
    assert sorted(taken) == sorted(jobs)
    statuses = await rows(pool, "SELECT status FROM stats_jobs")
    assert {s["status"] for s in statuses} == {"succeeded"}


async def test_a_job_left_running_by_a_crashed_worker_is_taken_again(
    pool: AsyncConnectionPool[Any], chdb_client: Any, ch_database: str
) -> None:
    exp = await loaded_experiment(pool, chdb_client, ch_database)
    job_id = await add_job(pool, exp)
    clock = next_day()
    async with pool.connection() as conn:
        await conn.execute("UPDATE stats_jobs SET status = 'running', started_at = %s", (clock.now,))
    _, _, runner = parts(pool, chdb_client, ch_database, clock)
    assert await runner.run_once() is None  # another worker may still be on it
    clock.now += JobSettings().stuck_after + timedelta(seconds=1)
    claimed = await runner.run_once()
    assert claimed is not None
    assert claimed.id == job_id
    [job] = await rows(pool, "SELECT status FROM stats_jobs")
    assert job["status"] == "succeeded"
