"""Item 10: recompute jobs cannot be flooded (one pending job per experiment) and tenants are served in
turn (one tenant's queue does not delay another tenant's job behind all of it). Real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg_pool import AsyncConnectionPool

from commands.stats_jobs import PostgresStatsJobs
from stats_worker import pg
from stats_worker.jobs import JobRunner, JobSettings
from stats_worker.scheduler import Recomputer, Scheduler, ScheduleSettings

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    p: AsyncConnectionPool[Any] = AsyncConnectionPool(pg_url, min_size=1, max_size=4, open=False,
                                                      kwargs={"autocommit": True})  # fmt: skip
    await p.open(wait=True)
    yield p
    await p.close()


class Tenant:
    def __init__(self) -> None:
        self.org = uuid4()
        self.env = uuid4()


async def request(
    jobs: PostgresStatsJobs, tenant: Tenant, experiment: UUID, at: datetime, job_id: UUID | None = None
) -> UUID:
    job = await jobs.request(job_id=job_id or uuid4(), experiment_id=experiment, environment_id=tenant.env,
                             org_id=tenant.org, now=at)  # fmt: skip
    return job.id


async def test_a_second_request_returns_the_pending_job_of_the_experiment(
    pool: AsyncConnectionPool[Any],
) -> None:
    jobs, tenant, experiment = PostgresStatsJobs(pool), Tenant(), uuid4()
    first = await request(jobs, tenant, experiment, T0)
    copies = {await request(jobs, tenant, experiment, T0 + timedelta(seconds=i)) for i in range(20)}
    assert copies == {first}
    assert await request(jobs, tenant, experiment, T0, job_id=first) == first  # an idempotent repeat
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM stats_jobs WHERE experiment_id = %s", (experiment,))
        assert await cur.fetchone() == (1,)
        await conn.execute(
            "UPDATE stats_jobs SET status = 'running', started_at = now() WHERE id = %s", (first,)
        )
    later = await request(jobs, tenant, experiment, T0 + timedelta(minutes=1))
    assert later != first  # a running job does not block the next request: data may have changed since
    assert await request(jobs, tenant, uuid4(), T0) not in (first, later)  # another experiment


async def test_one_tenants_queue_does_not_delay_another_tenants_job_behind_it(
    pool: AsyncConnectionPool[Any], chdb_client: Any
) -> None:
    jobs, noisy, quiet = PostgresStatsJobs(pool), Tenant(), Tenant()
    queued = [await request(jobs, noisy, uuid4(), T0 + timedelta(seconds=i)) for i in range(50)]
    single = await request(jobs, quiet, uuid4(), T0 + timedelta(minutes=5))

    def clock() -> datetime:
        return T0 + timedelta(days=1)

    recomputer = Recomputer(pool, chdb_client, clock=clock, settings=ScheduleSettings())
    runner = JobRunner(recomputer, pool, clock=clock, settings=JobSettings())
    order: list[UUID] = []
    while (job := await runner.run_once()) is not None:  # each fails fast (no iteration): order is all
        order.append(job.id)
    assert sorted(order) == sorted([*queued, single])
    assert order.index(single) <= 1  # at most one of the noisy tenant's jobs ran before it
    assert [j for j in order if j != single] == queued  # each tenant's own jobs stay in arrival order


class BrokenOnce(JobRunner):
    """A runner whose first claim hits a bug (an error nobody planned for)."""

    broke = False

    async def run_once(self) -> pg.ClaimedJob | None:
        if not self.broke:
            self.broke = True
            raise KeyError("a bug")
        return await super().run_once()


class TickBrokenOnce(Scheduler):
    ticks = 0

    async def tick(self) -> int:
        self.ticks += 1
        if self.ticks == 1:
            raise KeyError("a bug")
        return await super().tick()


async def test_the_job_and_schedule_loops_outlive_an_unexpected_error(
    pool: AsyncConnectionPool[Any], chdb_client: Any
) -> None:
    jobs, tenant = PostgresStatsJobs(pool), Tenant()
    job_id = await request(jobs, tenant, uuid4(), T0)
    recomputer = Recomputer(pool, chdb_client, clock=lambda: T0, settings=ScheduleSettings(tick_seconds=0.01))
    runner = BrokenOnce(recomputer, pool, clock=lambda: T0, settings=JobSettings(poll_seconds=0.01))
    scheduler = TickBrokenOnce(
        recomputer, pool, clock=lambda: T0, settings=ScheduleSettings(tick_seconds=0.01)
    )
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(scheduler.run())]
    try:
        for _ in range(400):
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT status FROM stats_jobs WHERE id = %s", (job_id,))
                status = await cur.fetchone()
            if status == ("failed",) and scheduler.ticks > 2:  # "no iteration yet": it ran to its end
                break
            await asyncio.sleep(0.02)
        assert status == ("failed",)
        assert scheduler.ticks > 2
        assert not any(t.done() for t in tasks)
    finally:
        await stop(tasks)


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel, again and again (psycopg's pool can swallow a cancellation), until they have ended."""
    pending = set(tasks)
    for _ in range(100):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.2)
        if not pending:
            return
    raise AssertionError("the loops did not stop")
