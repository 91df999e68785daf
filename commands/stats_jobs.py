"""On-demand experiment recompute jobs (the `stats_jobs` queue the stats worker drains).

Jobs are operational state, not domain facts, so they live in a plain table; the worker claims them with
`SELECT ... FOR UPDATE SKIP LOCKED`, serving tenants (`org_id`) in turn. A repeated request id returns the
first job (idempotent create), and an experiment has at most one pending job (a partial unique index): a
request while one is pending returns that one, so a queue cannot be flooded with copies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import msgspec
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from domain.errors import VersionMismatch


class StatsJob(msgspec.Struct, frozen=True, kw_only=True):
    """A recompute job: pending -> running -> succeeded | failed."""

    id: UUID
    experiment_id: UUID
    environment_id: UUID
    status: str
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str = ""


@runtime_checkable
class StatsJobs(Protocol):
    """Creates recompute jobs; `job_id` doubles as the idempotency key."""

    async def request(
        self, *, job_id: UUID, experiment_id: UUID, environment_id: UUID, org_id: UUID, now: datetime
    ) -> StatsJob:
        """The job with `job_id`, else the experiment's pending job, else a new pending job."""
        ...


# No conflict target: a clash on the id (a repeat) or on the one-pending index (a copy) inserts nothing.
_INSERT = (
    "INSERT INTO stats_jobs (id, experiment_id, environment_id, org_id, status, created_at)"
    " VALUES (%(id)s, %(exp)s, %(env)s, %(org)s, 'pending', %(now)s) ON CONFLICT DO NOTHING"
)
_SELECT = (
    "SELECT id, experiment_id, environment_id, status, created_at, started_at, completed_at, error"
    " FROM stats_jobs WHERE id = %(id)s OR (experiment_id = %(exp)s AND status = 'pending')"
    " ORDER BY id = %(id)s DESC LIMIT 1"
)
_ATTEMPTS = 3  # the pending job a request clashed with may start running before it is read back


class PostgresStatsJobs:
    """StatsJobs over the `stats_jobs` table."""

    def __init__(self, pool: AsyncConnectionPool[Any] | psycopg.AsyncConnection[Any]) -> None:
        self._pool = pool

    async def request(
        self, *, job_id: UUID, experiment_id: UUID, environment_id: UUID, org_id: UUID, now: datetime
    ) -> StatsJob:
        """Insert-if-absent, then read back (a repeat sees the first job, a copy the pending one)."""
        params = {"id": job_id, "exp": experiment_id, "env": environment_id, "org": org_id, "now": now}
        if isinstance(self._pool, AsyncConnectionPool):
            async with self._pool.connection() as conn:
                return await _request(conn, params)
        return await _request(self._pool, params)


async def _request(conn: psycopg.AsyncConnection[Any], params: dict[str, Any]) -> StatsJob:
    for _ in range(_ATTEMPTS):
        async with conn.transaction():
            await conn.execute(_INSERT, params)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_SELECT, params)
                row = await cur.fetchone()
        if row is not None:
            return msgspec.convert(row, StatsJob)
    # ABORTED (409): the experiment's pending job kept starting as this request read it; the caller retries
    raise VersionMismatch("the recompute request raced with the experiment's pending job; retry")
