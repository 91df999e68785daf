"""On-demand recompute jobs (the seed's TriggerRecompute / GetJobStatus): pending -> running ->
succeeded | failed, with timestamps and error text.

The gateway inserts `stats_jobs` rows (one pending per experiment); any worker claims the next with
`FOR UPDATE SKIP LOCKED`, tenants in turn (the one served longest ago first, then its oldest job). A job
left `running` by a crashed worker is claimed again after `stuck_after`. A job recomputes the
experiment's latest iteration whatever its schedule says.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from stats_worker import pg
from stats_worker.scheduler import Clock, Recomputer

log = logging.getLogger("stitchd.stats_worker.jobs")


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    poll_seconds: float = 0.5
    stuck_after: timedelta = timedelta(minutes=15)


class JobRunner:
    """Claims and runs recompute jobs one at a time."""

    def __init__(
        self, recomputer: Recomputer, pool: AsyncConnectionPool[Any], *, clock: Clock, settings: JobSettings
    ) -> None:
        self._recomputer = recomputer
        self._pool = pool
        self._clock = clock
        self._settings = settings

    async def run_once(self) -> pg.ClaimedJob | None:
        """Run the oldest claimable job to its end; None when there was none."""
        now = self._clock()
        async with self._pool.connection() as conn:
            job = await pg.claim_job(conn, now=now, stuck_before=now - self._settings.stuck_after)
        if job is None:
            return None
        error = await self._execute(job)
        async with self._pool.connection() as conn:
            await pg.finish_job(conn, job.id, now=self._clock(), error=error)
        log.info("stats job %s %s", job.id, "succeeded" if error is None else f"failed: {error}")
        return job

    async def _execute(self, job: pg.ClaimedJob) -> str | None:
        """None on success, else the error text stored with the job (a claimed job always finishes)."""
        try:
            ref = await self._recomputer.latest(job.experiment_id)
            if ref is None:
                return "the experiment has no iteration yet (activate it first)"
            await self._recomputer.run(ref, force=True)
        except Exception as exc:  # the job's outcome: stored as its error text, not swallowed
            return f"{type(exc).__name__}: {exc}"
        return None

    async def run(self) -> None:
        """Drain jobs, then poll every `poll_seconds`, until cancelled; Postgres outages are waited out and
        any other error is logged: only cancellation ends the loop."""
        while True:
            try:
                job = await self.run_once()
            except psycopg.OperationalError as exc:
                log.warning("stats jobs: Postgres unavailable (%s); retrying", exc)
                job = None
            except Exception:  # the poison policy: log, back off (the poll), go on
                log.exception("stats jobs: unexpected error; going on")
                job = None
            if job is None:
                await asyncio.sleep(self._settings.poll_seconds)
