"""Scheduled experiment results: every running iteration every experiment's `stats_interval_minutes`
(60 by default, set on the experiment), every ended iteration once more after it ended (its final numbers).

`Recomputer.run` is the one way results are made, shared with on-demand jobs: claim the results row
(a lease, so a crashed worker's claim expires), compute in ClickHouse (results.py) off the event loop,
and store the seed's VariantResult list plus the full statistics in `details`. The winner rule (on the
first metric, higher is better, alpha 0.05, none under a sample-ratio mismatch) is documented in
docs/experiments.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast
from uuid import UUID

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from domain.experiments.schedule import STALE_GRACE
from stats_worker import pg
from stats_worker.clickhouse_schema import DEFAULT_DATABASE
from stats_worker.results import (
    ExperimentResult,
    IterationSpec,
    MetricSpec,
    QueryClient,
    ValueType,
    compute_results,
)
from telemetry import metrics

log = logging.getLogger("stitchd.stats_worker")

ALPHA: Final = 0.05
Clock = Callable[[], datetime]


@dataclass(frozen=True, kw_only=True)
class ScheduleSettings:
    """How long a claim lasts, how soon a failure is retried, how often the schedule looks, and how
    overdue results may be before they are flagged stale (how often they refresh is the experiment's)."""

    lease: timedelta = timedelta(minutes=10)
    retry: timedelta = timedelta(minutes=5)
    tick_seconds: float = 15.0
    stale_grace: timedelta = STALE_GRACE


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def iteration_spec(plan: pg.IterationPlan) -> IterationSpec:
    """The ClickHouse computation's input; an unregistered metric counts as a double, no weights = even."""
    variants = plan.variant_keys
    weights = {w.variant_key: w.weight_milli / 1000 for w in plan.weights} or {
        v: 1 / len(variants) for v in variants
    }
    control = plan.control_variant if plan.control_variant in variants else variants[0]
    metrics = [MetricSpec(k, cast(ValueType, plan.metric_types.get(k, "double"))) for k in plan.metric_keys]
    return IterationSpec(
        environment_id=str(plan.ref.environment_id),
        flag_key=plan.flag_key,
        start_ms=_ms(plan.started_at),
        end_ms=None if plan.ended_at is None else _ms(plan.ended_at),
        variant_keys=list(variants),
        control_variant=control,
        metrics=metrics,
        weights=weights,
    )


def winner(result: ExperimentResult, alpha: float = ALPHA) -> str | None:
    """The best significantly better treatment on the first metric, the control if every treatment is
    significantly worse, else None (also None under a sample-ratio mismatch: the split is broken)."""
    if result.srm.mismatch or not result.variants or not result.variants[0].metrics:
        return None
    better: list[tuple[float, str]] = []
    worse = 0
    treatments = [v for v in result.variants if not v.is_control]
    for v in treatments:
        effect = v.metrics[0].effect
        if effect is None or effect.p_value is None or effect.p_value >= alpha:
            continue
        if effect.difference > 0:
            better.append((effect.difference, v.variant_key))
        elif effect.difference < 0:
            worse += 1
    if better:
        return max(better)[1]
    return result.control_variant if treatments and worse == len(treatments) else None


def variant_results(result: ExperimentResult) -> list[dict[str, Any]]:
    """The seed's VariantResult objects: metric means, p-value of the first metric against control."""
    out = []
    for v in result.variants:
        first = v.metrics[0].effect if v.metrics else None
        p_value = None if first is None else first.p_value
        out.append(
            {
                "variant_key": v.variant_key,
                "participant_count": v.participants,
                "metric_values": {m.metric_key: m.mean for m in v.metrics},
                "p_value": 0.0 if p_value is None else p_value,
                "p_value_present": p_value is not None,
            }
        )
    return out


def details(result: ExperimentResult, iteration_number: int) -> dict[str, Any]:
    """Everything computed (effects, intervals, SRM) plus the primary metric and the winner."""
    body = cast(dict[str, Any], msgspec.to_builtins(result))
    primary = (
        result.variants[0].metrics[0].metric_key if result.variants and result.variants[0].metrics else None
    )
    return body | {"iteration_number": iteration_number, "primary_metric": primary, "winner": winner(result)}


class Recomputer:
    """Computes one iteration's results and stores them (or the failure) in Postgres."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        client: QueryClient,
        *,
        clock: Clock,
        settings: ScheduleSettings,
        database: str = DEFAULT_DATABASE,
    ) -> None:
        self._pool = pool
        self._client = client
        self._clock = clock
        self._settings = settings
        self._database = database

    async def run(self, ref: pg.IterationRef, *, force: bool = False) -> bool:
        """Claim, compute and store; False when another worker holds the claim. Raises on failure
        after recording it (`error`, retry time, earlier numbers flagged stale)."""
        now = self._clock()
        async with self._pool.connection() as conn:
            plan = await pg.iteration_plan(conn, ref.experiment_id, ref.iteration_number)
            if plan is None:  # deleted since it was found due
                return False
            lease = now + self._settings.lease
            claimed = await pg.claim_iteration(
                conn,
                ref,
                now=now,
                lease_until=lease,
                ended_at=plan.ended_at,
                interval=plan.interval,
                force=force,
            )
        if not claimed:
            return False
        started, job = time.perf_counter(), "recompute" if force else "scheduled"
        try:
            result = await self._compute(plan)
        except Exception as exc:  # recorded in the results row, then re-raised to the caller
            metrics.observe_job(job, time.perf_counter() - started, failed=True)
            async with self._pool.connection() as conn:
                retry = self._clock() + self._settings.retry
                await pg.save_failure(conn, ref, error=f"{type(exc).__name__}: {exc}", retry_at=retry)
            raise
        await self._store(plan, result)
        metrics.observe_job(job, time.perf_counter() - started, failed=False)
        return True

    async def _compute(self, plan: pg.IterationPlan) -> ExperimentResult:
        if not plan.variant_keys:
            raise ValueError("the iteration has no variants")
        spec = iteration_spec(plan)
        now_ms = _ms(self._clock())
        return await asyncio.to_thread(
            compute_results, self._client, spec, now_ms=now_ms, database=self._database
        )

    async def _store(self, plan: pg.IterationPlan, result: ExperimentResult) -> None:
        now = self._clock()
        running = plan.ended_at is None
        next_run = now + plan.interval if running else None  # computed_at + the experiment's interval
        async with self._pool.connection() as conn:
            await pg.save_results(
                conn,
                plan.ref,
                variant_results=variant_results(result),
                details=details(result, plan.ref.iteration_number),
                now=now,
                next_run_at=next_run,
            )

    async def latest(self, experiment_id: UUID) -> pg.IterationRef | None:
        """The experiment's latest iteration, or None (still DRAFT, or deleted)."""
        async with self._pool.connection() as conn:
            plan = await pg.iteration_plan(conn, experiment_id)
        return None if plan is None else plan.ref


class Scheduler:
    """Every `tick_seconds`: flag stale results, then recompute every due iteration."""

    def __init__(
        self,
        recomputer: Recomputer,
        pool: AsyncConnectionPool[Any],
        *,
        clock: Clock,
        settings: ScheduleSettings,
    ) -> None:
        self._recomputer = recomputer
        self._pool = pool
        self._clock = clock
        self._settings = settings

    async def tick(self) -> int:
        """One pass; returns how many iterations were recomputed (failures are logged and retried later)."""
        now = self._clock()
        async with self._pool.connection() as conn:
            await pg.mark_stale(conn, overdue_before=now - self._settings.stale_grace)
            due = await pg.due_iterations(conn, now=now)
        done = 0
        for ref in due:
            try:
                done += await self._recomputer.run(ref)
            except Exception:  # one experiment's failure is recorded and must not stop the others
                log.exception("scheduled recompute of experiment %s failed", ref.experiment_id)
        return done

    async def run(self) -> None:
        """Tick until cancelled; Postgres outages are waited out, any other error is logged and the next
        tick comes: only cancellation ends the loop."""
        while True:
            try:
                await self.tick()
            except psycopg.OperationalError as exc:
                log.warning("stats schedule: Postgres unavailable (%s); retrying", exc)
            except Exception:  # the poison policy: log, back off (the tick), go on
                log.exception("stats schedule: unexpected error; going on")
            await asyncio.sleep(self._settings.tick_seconds)
