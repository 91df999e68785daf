"""The results view derives `is_stale` at read time; the experiment views carry the stats interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from gateway.experiment_views import ms, results_view, row_view
from readmodels.experiments import ExperimentRow, IterationRow, ResultRow

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
EXP = uuid4()


def _iteration(number: int, started: datetime, ended: datetime | None = None) -> IterationRow:
    return IterationRow(
        id=uuid4(), experiment_id=EXP, iteration_number=number, started_at=started, ended_at=ended,
        metric_keys=[], variant_keys=["off", "on"], weights=[], traffic_allocation=1.0,
    )  # fmt: skip


def _result(*, computed: datetime, next_run: datetime | None, stale: bool = False) -> ResultRow:
    return ResultRow(
        experiment_id=EXP, iteration_number=1, computation_status="succeeded", variant_results=[],
        details={}, computed_at=computed, next_run_at=next_run, is_stale=stale, error="",
    )  # fmt: skip


def test_no_results_yet_are_pending_and_not_stale() -> None:
    view = results_view(EXP, None, iterations=[_iteration(1, T0)], now=T0 + timedelta(days=9))
    assert (view.computation_status, view.is_stale, view.next_run_at_ms) == ("pending", False, 0)


def test_stale_is_derived_from_the_schedule_the_workers_flag_and_later_iteration_changes() -> None:
    running = [_iteration(1, T0)]
    fresh = _result(computed=T0 + timedelta(hours=1), next_run=T0 + timedelta(hours=2))
    cases = [
        (fresh, running, T0 + timedelta(hours=2, minutes=5), False),  # due, within the grace
        (fresh, running, T0 + timedelta(hours=2, minutes=6), True),  # the worker did not deliver
        (_result(computed=T0, next_run=T0 + timedelta(hours=1), stale=True), running, T0, True),
        (fresh, [_iteration(1, T0, ended=T0 + timedelta(hours=1, minutes=1))], T0 + timedelta(hours=1), True),
        (fresh, [_iteration(1, T0, ended=T0), _iteration(2, T0 + timedelta(hours=1))], T0, True),
    ]
    for stored, iterations, now, expected in cases:
        view = results_view(EXP, stored, iterations=iterations, now=now)
        assert view.is_stale is expected, (stored, iterations, now)
        assert view.next_run_at_ms == ms(stored.next_run_at)
        assert view.computed_at_ms == ms(stored.computed_at)


def test_the_experiment_view_shows_the_stats_interval() -> None:
    row = ExperimentRow(
        id=EXP, environment_id=uuid4(), name="n", description="", flag_key="f", status="ACTIVE",
        variant_keys=["off", "on"], control_variant="off", weights=[], metric_keys=[], traffic_allocation=1.0,
        version=3, position=9, created_at=T0, updated_at=T0, stats_interval_minutes=5,
    )  # fmt: skip
    assert row_view(row).stats_interval_minutes == 5
