"""Item 10: recompute jobs cannot be flooded (one pending job per experiment) and tenants are served in
turn (one tenant's queue does not delay another tenant's job behind all of it). Real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg_pool import AsyncConnectionPool

from commands.stats_jobs import PostgresStatsJobs
from stats_worker.jobs import JobRunner, JobSettings
from stats_worker.scheduler import Recomputer, ScheduleSettings

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
