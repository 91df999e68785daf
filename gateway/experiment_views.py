"""Translation between experiment state / read-model rows and the seed's experiment HTTP shapes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from commands.stats_jobs import StatsJob
from domain.experiments import experiment as exp
from domain.experiments.events import ExperimentStatus
from domain.experiments.schedule import IterationWindow, StoredResults, results_are_stale
from domain.flags.model import Bucket
from gateway.errors import InvalidArgument
from readmodels import experiments as rm
from schemas.http_experiments import (
    ExperimentView,
    IterationView,
    ResultsView,
    StatsJobView,
    VariantResultView,
    WeightBody,
    WeightView,
)


def ms(at: datetime | None) -> int:
    """Epoch milliseconds (0 for None)."""
    return 0 if at is None else int(at.timestamp() * 1000)


def status_of(raw: str) -> ExperimentStatus:
    """A status from "ACTIVE", "active" or "EXPERIMENT_STATUS_ACTIVE"."""
    try:
        return ExperimentStatus(raw.upper().removeprefix("EXPERIMENT_STATUS_"))
    except ValueError:
        raise InvalidArgument(f"unknown status {raw!r}: use DRAFT, ACTIVE, PAUSED or CONCLUDED") from None


def buckets(weights: list[WeightBody]) -> tuple[Bucket, ...]:
    return tuple(Bucket(w.variant_key, w.weight_milli) for w in weights)


def state_view(s: exp.Experiment, position: int) -> ExperimentView:
    return ExperimentView(
        id=s.id,
        environment_id=s.environment_id,
        name=s.name,
        description=s.description,
        flag_key=s.flag_key,
        status=s.status.value,
        variant_keys=list(s.variant_keys),
        control_variant=s.control_variant,
        weights=[WeightView(variant_key=b.variant_key, weight_milli=b.weight_milli) for b in s.weights],
        metric_keys=list(s.metric_keys),
        traffic_allocation=s.traffic_allocation,
        stats_interval_minutes=s.stats_interval_minutes,
        created_at_ms=ms(s.created_at),
        updated_at_ms=ms(s.updated_at),
        version=s.version,
        position=position,
    )


def row_view(r: rm.ExperimentRow) -> ExperimentView:
    return ExperimentView(
        id=r.id,
        environment_id=r.environment_id,
        name=r.name,
        description=r.description,
        flag_key=r.flag_key,
        status=r.status,
        variant_keys=r.variant_keys,
        control_variant=r.control_variant,
        weights=[WeightView(variant_key=b.variant_key, weight_milli=b.weight_milli) for b in r.weights],
        metric_keys=r.metric_keys,
        traffic_allocation=r.traffic_allocation,
        stats_interval_minutes=r.stats_interval_minutes,
        created_at_ms=ms(r.created_at),
        updated_at_ms=ms(r.updated_at),
        version=r.version,
        position=r.position,
    )


def job_view(j: StatsJob | rm.StatsJobRow) -> StatsJobView:
    return StatsJobView(
        job_id=j.id,
        experiment_id=j.experiment_id,
        status=j.status,
        created_at_ms=ms(j.created_at),
        started_at_ms=ms(j.started_at),
        completed_at_ms=ms(j.completed_at),
        error=j.error,
    )


def is_stale(r: rm.ResultRow, iterations: Sequence[rm.IterationRow], now: datetime) -> bool:
    """The stored flag, or overdue by more than the grace, or the measured definition changed since."""
    stored = StoredResults(
        iteration_number=r.iteration_number,
        computed_at=r.computed_at,
        next_run_at=r.next_run_at,
        is_stale=r.is_stale,
    )
    windows = [
        IterationWindow(number=i.iteration_number, started_at=i.started_at, ended_at=i.ended_at)
        for i in iterations
    ]
    return results_are_stale(stored, windows, now)


def results_view(
    experiment_id: UUID,
    r: rm.ResultRow | None,
    *,
    iterations: Sequence[rm.IterationRow],
    now: datetime,
) -> ResultsView:
    """The seed's ExperimentResults; "pending" with no variants until the stats worker wrote a row.
    `iterations` are the experiment's (all of them), `now` the read time: both decide `is_stale`."""
    if r is None:
        return ResultsView(
            experiment_id=experiment_id,
            variant_results=[],
            computed_at_ms=0,
            is_stale=False,
            next_run_at_ms=0,
            computation_status="pending",
        )
    variants = [
        VariantResultView(
            variant_key=str(v.get("variant_key", "")),
            participant_count=int(v.get("participant_count", 0)),
            metric_values={str(k): float(x) for k, x in dict(v.get("metric_values", {})).items()},
            p_value=float(v.get("p_value", 0.0)),
            p_value_present=bool(v.get("p_value_present", False)),
        )
        for v in r.variant_results
    ]
    return ResultsView(
        experiment_id=experiment_id,
        variant_results=variants,
        computed_at_ms=ms(r.computed_at),
        is_stale=is_stale(r, iterations, now),
        next_run_at_ms=ms(r.next_run_at),
        computation_status=r.computation_status,
        iteration_number=r.iteration_number,
        details=r.details,
    )


def iteration_view(i: rm.IterationRow) -> IterationView:
    return IterationView(
        id=i.id,
        experiment_id=i.experiment_id,
        iteration_number=i.iteration_number,
        started_at_ms=ms(i.started_at),
        ended_at_ms=ms(i.ended_at),
        metric_keys=i.metric_keys,
        variant_keys=i.variant_keys,
        traffic_allocation=i.traffic_allocation,
    )
