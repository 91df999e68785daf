"""The stats worker's Postgres: experiment read models in, `rm_experiment_results` and `stats_jobs` out.

Plain SQL over the tables of migrations 0005, 0007 and 0009 (the worker may not import readmodels). Results
rows are claimed with a compare-and-set on `next_run_at` (a lease), jobs with `FOR UPDATE SKIP LOCKED` in
tenant round-robin order, so any number of workers can share the work and a crashed worker's claims expire.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Conn = AsyncConnection[Any]
RESULT_STATUSES: Final = ("running", "succeeded", "failed")


class IterationRef(msgspec.Struct, frozen=True):
    """One experiment iteration whose results row is addressed by (experiment_id, iteration_number)."""

    experiment_id: UUID
    iteration_number: int
    environment_id: UUID


class Weight(msgspec.Struct, frozen=True):
    variant_key: str
    weight_milli: int


class IterationPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything needed to compute one iteration's results (metric types from rm_event_definitions)."""

    ref: IterationRef
    flag_key: str
    control_variant: str
    started_at: datetime
    ended_at: datetime | None
    variant_keys: list[str]
    metric_keys: list[str]
    weights: list[Weight]
    metric_types: dict[str, str]
    interval: timedelta  # the experiment's stats_interval_minutes


class ClaimedJob(msgspec.Struct, frozen=True):
    id: UUID
    experiment_id: UUID
    environment_id: UUID


_DUE = """
SELECT i.experiment_id, i.iteration_number, i.environment_id
FROM rm_experiment_iterations i
JOIN rm_experiments e ON e.id = i.experiment_id
LEFT JOIN rm_experiment_results r
    ON r.experiment_id = i.experiment_id AND r.iteration_number = i.iteration_number
WHERE e.status IN ('ACTIVE', 'PAUSED', 'CONCLUDED')
  AND (
    (i.ended_at IS NULL AND (r.next_run_at IS NULL OR r.next_run_at <= %(now)s
        -- a shortened interval applies at once, not after the next_run_at of the old one
        OR (r.computation_status = 'succeeded'
            AND r.computed_at + make_interval(mins => e.stats_interval_minutes) <= %(now)s)))
    -- an ended iteration: once more after its end; a succeeded row's next_run_at (its schedule) no longer
    -- applies, a running row's (a lease) or a failed row's (the retry time) still does
    OR (i.ended_at IS NOT NULL AND (r.computed_at IS NULL OR r.computed_at < i.ended_at)
        AND (r.next_run_at IS NULL OR r.next_run_at <= %(now)s OR r.computation_status = 'succeeded'))
  )
ORDER BY r.next_run_at NULLS FIRST, i.started_at
LIMIT %(limit)s
"""

_CLAIM = """
INSERT INTO rm_experiment_results
    (experiment_id, iteration_number, environment_id, computation_status, next_run_at)
VALUES (%(exp)s, %(it)s, %(env)s, 'running', %(lease)s)
ON CONFLICT (experiment_id, iteration_number) DO UPDATE
SET computation_status = 'running', next_run_at = EXCLUDED.next_run_at
WHERE %(force)s OR rm_experiment_results.next_run_at IS NULL OR rm_experiment_results.next_run_at <= %(now)s
   OR (rm_experiment_results.computation_status = 'succeeded'
       AND (rm_experiment_results.computed_at < %(ended_at)s::timestamptz
            OR rm_experiment_results.computed_at + %(interval)s::interval <= %(now)s))
RETURNING experiment_id
"""

_PLAN = """
SELECT i.experiment_id, i.iteration_number, i.environment_id, e.flag_key, e.control_variant,
       i.started_at, i.ended_at, i.variant_keys, i.metric_keys, i.weights::text AS weights,
       e.stats_interval_minutes
FROM rm_experiment_iterations i JOIN rm_experiments e ON e.id = i.experiment_id
WHERE i.experiment_id = %(exp)s AND (%(it)s::integer IS NULL OR i.iteration_number = %(it)s::integer)
ORDER BY i.iteration_number DESC
LIMIT 1
"""

_TYPES = (
    "SELECT event_key, value_type FROM rm_event_definitions WHERE environment_id = %s AND event_key = ANY(%s)"
)

_SUCCEEDED = """
UPDATE rm_experiment_results
SET computation_status = 'succeeded', variant_results = %(variants)s, details = %(details)s,
    computed_at = %(now)s, next_run_at = %(next)s, is_stale = false, error = ''
WHERE experiment_id = %(exp)s AND iteration_number = %(it)s
"""

_FAILED = """
UPDATE rm_experiment_results
SET computation_status = 'failed', error = %(error)s, next_run_at = %(next)s,
    is_stale = computed_at IS NOT NULL
WHERE experiment_id = %(exp)s AND iteration_number = %(it)s
"""

# Results are stale when their scheduled refresh is overdue (the worker is down or behind) or the
# iteration ended after they were computed (the final numbers are not in yet).
_MARK_STALE = """
UPDATE rm_experiment_results r SET is_stale = true
FROM rm_experiment_iterations i
WHERE i.experiment_id = r.experiment_id AND i.iteration_number = r.iteration_number
  AND NOT r.is_stale AND r.computed_at IS NOT NULL
  AND ((r.next_run_at IS NOT NULL AND r.next_run_at < %(overdue)s)
       OR (i.ended_at IS NOT NULL AND r.computed_at < i.ended_at))
"""

# Fair across tenants: among claimable jobs, the tenant served longest ago (or never) goes first, then
# its oldest job; so one tenant's queue of 50 delays another tenant's job by at most one job.
_CLAIM_JOB = """
UPDATE stats_jobs SET status = 'running', started_at = %(now)s, completed_at = NULL, error = ''
WHERE id = (
    SELECT j.id FROM stats_jobs j
    LEFT JOIN LATERAL (
        SELECT max(s.started_at) AS last_started FROM stats_jobs s
        WHERE coalesce(s.org_id, s.environment_id) = coalesce(j.org_id, j.environment_id)
    ) served ON true
    WHERE j.status = 'pending' OR (j.status = 'running' AND j.started_at < %(stuck)s)
    ORDER BY served.last_started NULLS FIRST, j.created_at, j.id
    FOR UPDATE OF j SKIP LOCKED
    LIMIT 1
)
RETURNING id, experiment_id, environment_id
"""

_FINISH_JOB = (
    "UPDATE stats_jobs SET status = %s, completed_at = %s, error = %s WHERE id = %s AND status = 'running'"
)


async def _rows(conn: Conn, sql: str, params: Any) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return list(await cur.fetchall())


async def due_iterations(conn: Conn, *, now: datetime, limit: int = 100) -> list[IterationRef]:
    """Iterations whose results are missing or due: running ones on schedule, ended ones once more."""
    rows = await _rows(conn, _DUE, {"now": now, "limit": limit})
    return msgspec.convert(rows, list[IterationRef])


async def claim_iteration(
    conn: Conn,
    ref: IterationRef,
    *,
    now: datetime,
    lease_until: datetime,
    ended_at: datetime | None = None,
    interval: timedelta | None = None,
    force: bool = False,
) -> bool:
    """Mark the results row 'running' until `lease_until`; False when it is not due (a lease held by
    another worker, a retry time, a schedule) unless `force`. An ended iteration's schedule is void;
    a succeeded row older than `interval` (the experiment's current one) is due whatever it stored."""
    params = {
        "ended_at": ended_at,
        "interval": interval,
        "exp": ref.experiment_id,
        "it": ref.iteration_number,
        "env": ref.environment_id,
        "lease": lease_until,
        "now": now,
        "force": force,
    }
    return bool(await _rows(conn, _CLAIM, params))


async def iteration_plan(
    conn: Conn, experiment_id: UUID, iteration_number: int | None = None
) -> IterationPlan | None:
    """The iteration (the latest when no number is given) with its experiment's flag and metric types."""
    rows = await _rows(conn, _PLAN, {"exp": experiment_id, "it": iteration_number})
    if not rows:
        return None
    row = rows[0]
    types = await _rows(conn, _TYPES, (row["environment_id"], list(row["metric_keys"])))
    return IterationPlan(
        ref=IterationRef(row["experiment_id"], row["iteration_number"], row["environment_id"]),
        flag_key=row["flag_key"],
        control_variant=row["control_variant"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        variant_keys=list(row["variant_keys"]),
        metric_keys=list(row["metric_keys"]),
        weights=msgspec.json.decode(row["weights"], type=list[Weight]),
        metric_types={t["event_key"]: t["value_type"] for t in types},
        interval=timedelta(minutes=row["stats_interval_minutes"]),
    )


async def save_results(
    conn: Conn,
    ref: IterationRef,
    *,
    variant_results: list[dict[str, Any]],
    details: dict[str, Any],
    now: datetime,
    next_run_at: datetime | None,
) -> None:
    """Store a successful computation (fresh: is_stale false, error cleared)."""
    params = {
        "variants": Jsonb(variant_results),
        "details": Jsonb(details),
        "now": now,
        "next": next_run_at,
        "exp": ref.experiment_id,
        "it": ref.iteration_number,
    }
    await conn.execute(_SUCCEEDED, params)


async def save_failure(conn: Conn, ref: IterationRef, *, error: str, retry_at: datetime) -> None:
    """Record a failed computation; earlier numbers stay, flagged stale."""
    params = {"error": error, "next": retry_at, "exp": ref.experiment_id, "it": ref.iteration_number}
    await conn.execute(_FAILED, params)


async def mark_stale(conn: Conn, *, overdue_before: datetime) -> int:
    """Flag results whose refresh is overdue or whose iteration has ended since; returns how many."""
    cur = await conn.execute(_MARK_STALE, {"overdue": overdue_before})
    return cur.rowcount


async def claim_job(conn: Conn, *, now: datetime, stuck_before: datetime) -> ClaimedJob | None:
    """The next job in tenant round-robin order (a pending one, or one left running by a crashed worker),
    now running; None if none."""
    rows = await _rows(conn, _CLAIM_JOB, {"now": now, "stuck": stuck_before})
    return msgspec.convert(rows[0], ClaimedJob) if rows else None


async def finish_job(conn: Conn, job_id: UUID, *, now: datetime, error: str | None = None) -> None:
    """Mark a running job succeeded, or failed with the error text."""
    status = "succeeded" if error is None else "failed"
    await conn.execute(_FINISH_JOB, (status, now, error or "", job_id))
