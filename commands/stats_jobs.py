"""On-demand experiment recompute jobs (the `stats_jobs` queue the stats worker drains).

Jobs are operational state, not domain facts, so they live in a plain table; the worker claims them with
`SELECT ... FOR UPDATE SKIP LOCKED`. A repeated request id returns the first job (idempotent create).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import msgspec
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


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
        self, *, job_id: UUID, experiment_id: UUID, environment_id: UUID, now: datetime
    ) -> StatsJob:
        """The job with `job_id`, created pending if it does not exist yet."""
        ...


_INSERT = (
    "INSERT INTO stats_jobs (id, experiment_id, environment_id, status, created_at)"
    " VALUES (%s, %s, %s, 'pending', %s) ON CONFLICT (id) DO NOTHING"
)
_SELECT = (
    "SELECT id, experiment_id, environment_id, status, created_at, started_at, completed_at, error"
    " FROM stats_jobs WHERE id = %s"
)


class PostgresStatsJobs:
    """StatsJobs over the `stats_jobs` table."""

    def __init__(self, pool: AsyncConnectionPool[Any] | psycopg.AsyncConnection[Any]) -> None:
        self._pool = pool

    async def request(
        self, *, job_id: UUID, experiment_id: UUID, environment_id: UUID, now: datetime
    ) -> StatsJob:
        """Insert-if-absent, then read back (a repeat sees the first job's status)."""
        if isinstance(self._pool, AsyncConnectionPool):
            async with self._pool.connection() as conn:
                return await _request(conn, job_id, experiment_id, environment_id, now)
        return await _request(self._pool, job_id, experiment_id, environment_id, now)


async def _request(
    conn: psycopg.AsyncConnection[Any], job_id: UUID, experiment_id: UUID, environment_id: UUID, now: datetime
) -> StatsJob:
    async with conn.transaction():
        await conn.execute(_INSERT, (job_id, experiment_id, environment_id, now))
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_SELECT, (job_id,))
            row = await cur.fetchone()
    assert row is not None  # inserted or already present in this transaction
    return msgspec.convert(row, StatsJob)
