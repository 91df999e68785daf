"""When shown experiment results count as stale (domain.experiments.schedule.results_are_stale)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.experiments.schedule import (
    STALE_GRACE,
    IterationWindow,
    StoredResults,
    results_are_stale,
)
from tests.unit.domain.harness import NOW, at

HOUR = timedelta(hours=1)


def _stored(*, computed: int | None = 0, next_run: int | None = 60, stale: bool = False) -> StoredResults:
    return StoredResults(
        iteration_number=1,
        computed_at=None if computed is None else at(computed),
        next_run_at=None if next_run is None else at(next_run),
        is_stale=stale,
    )


RUNNING = [IterationWindow(number=1, started_at=at(-600))]


def test_fresh_results_turn_stale_only_once_the_run_is_overdue_by_more_than_the_grace() -> None:
    stored = _stored()
    grace_minutes = int(STALE_GRACE.total_seconds() // 60)
    assert not results_are_stale(stored, RUNNING, at(30))
    assert not results_are_stale(stored, RUNNING, at(60 + grace_minutes))
    assert results_are_stale(stored, RUNNING, at(60 + grace_minutes + 1))


def test_the_workers_own_flag_is_kept() -> None:
    assert results_are_stale(_stored(stale=True), RUNNING, at(1))


def test_an_iteration_that_ended_after_the_computation_makes_its_numbers_stale() -> None:
    ended_later = [IterationWindow(number=1, started_at=at(-600), ended_at=at(10))]
    ended_before = [IterationWindow(number=1, started_at=at(-600), ended_at=at(-1))]
    final = _stored(next_run=None)  # the worker's final numbers: no further run is scheduled
    assert results_are_stale(final, ended_later, at(11))
    assert not results_are_stale(final, ended_before, NOW + 100 * HOUR)


def test_numbers_of_an_older_iteration_are_stale_once_a_newer_one_started() -> None:
    iterations = [
        IterationWindow(number=1, started_at=at(-600), ended_at=at(-1)),
        IterationWindow(number=2, started_at=at(5)),
    ]
    assert results_are_stale(_stored(next_run=None), iterations, at(6))


def test_a_claimed_row_without_numbers_is_stale_only_when_its_lease_ran_out() -> None:
    claimed = _stored(computed=None, next_run=10)
    assert not results_are_stale(claimed, RUNNING, at(11))
    assert results_are_stale(claimed, RUNNING, at(10) + STALE_GRACE + timedelta(seconds=1))


minutes = st.integers(-10_000, 10_000)


@settings(max_examples=200)
@given(
    computed=st.none() | minutes,
    next_run=st.none() | minutes,
    ended=st.none() | minutes,
    stale=st.booleans(),
    newer=st.booleans(),
    now=minutes,
    later=st.integers(0, 10_000),
)
def test_staleness_never_goes_away_by_waiting_and_the_stored_flag_always_wins(
    computed: int | None,
    next_run: int | None,
    ended: int | None,
    stale: bool,
    newer: bool,
    now: int,
    later: int,
) -> None:
    stored = _stored(computed=computed, next_run=next_run, stale=stale)
    iterations = [
        IterationWindow(number=1, started_at=at(-20_000), ended_at=None if ended is None else at(ended))
    ]
    if newer:
        iterations.append(IterationWindow(number=2, started_at=at(-5_000)))
    first = results_are_stale(stored, iterations, at(now))
    assert not first or results_are_stale(stored, iterations, at(now + later))
    assert not stale or first
    if next_run is None and not stale:  # no schedule: only definition changes can make it stale
        assert first == results_are_stale(stored, iterations, at(now + later))
