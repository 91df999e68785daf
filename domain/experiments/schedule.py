"""How often an experiment's results are recomputed, and when shown results count as stale.

Every experiment carries `stats_interval_minutes` (60 by default, 1 minute to 1 week). The stats worker
computes a running iteration every interval (`next_run_at = computed_at + interval`); the results view
derives staleness with `results_are_stale` so a worker that stopped delivering is visible to readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from domain.errors import InvalidStatsInterval

DEFAULT_STATS_INTERVAL_MINUTES: Final = 60
MIN_STATS_INTERVAL_MINUTES: Final = 1
MAX_STATS_INTERVAL_MINUTES: Final = 7 * 24 * 60
STALE_GRACE: Final = timedelta(minutes=5)


def check_stats_interval(minutes: int) -> int:
    """`minutes` when it is an integer in 1..10080, else InvalidStatsInterval."""
    low, high = MIN_STATS_INTERVAL_MINUTES, MAX_STATS_INTERVAL_MINUTES
    if type(minutes) is not int or not low <= minutes <= high:
        raise InvalidStatsInterval(f"stats_interval_minutes must be a whole number from {low} to {high}")
    return minutes


@dataclass(frozen=True, kw_only=True)
class IterationWindow:
    """An iteration's number and measuring window (`ended_at` None while it runs)."""

    number: int
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StoredResults:
    """What the stats worker stored for one iteration."""

    iteration_number: int
    computed_at: datetime | None
    next_run_at: datetime | None
    is_stale: bool


def results_are_stale(
    stored: StoredResults,
    iterations: Sequence[IterationWindow],
    now: datetime,
    *,
    grace: timedelta = STALE_GRACE,
) -> bool:
    """Stale when the worker said so, when its scheduled run is overdue by more than `grace`, or when
    the measured definition changed after `computed_at`: the iteration ended later, or a newer
    iteration started (the numbers shown belong to an older one)."""
    if stored.is_stale:
        return True
    if stored.next_run_at is not None and now > stored.next_run_at + grace:
        return True
    if stored.computed_at is None:
        return False
    computed_at = stored.computed_at
    for it in iterations:
        if it.number == stored.iteration_number and it.ended_at is not None and it.ended_at > computed_at:
            return True
        if it.number > stored.iteration_number:
            return True
    return False
