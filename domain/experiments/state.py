"""Experiment state and its fold."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.experiments.events import (
    ExperimentCreated,
    ExperimentDeleted,
    ExperimentEvent,
    ExperimentIterationEnded,
    ExperimentIterationStarted,
    ExperimentStatus,
    ExperimentStatusChanged,
    ExperimentUpdated,
)
from domain.experiments.schedule import DEFAULT_STATS_INTERVAL_MINUTES
from domain.flags.model import Bucket


class Iteration(msgspec.Struct, frozen=True, kw_only=True):
    """One activation's measuring window; `ended_at` is None while it runs."""

    id: UUID
    number: int
    started_at: datetime
    variant_keys: tuple[str, ...]
    metric_keys: tuple[str, ...] = ()
    weights: tuple[Bucket, ...] = ()
    traffic_allocation: float = 1.0
    ended_at: datetime | None = None


class Experiment(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    environment_id: UUID
    flag_key: str
    name: str
    variant_keys: tuple[str, ...]
    control_variant: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    metric_keys: tuple[str, ...] = ()
    weights: tuple[Bucket, ...] = ()
    traffic_allocation: float = 1.0
    stats_interval_minutes: int = DEFAULT_STATS_INTERVAL_MINUTES
    status: ExperimentStatus = ExperimentStatus.DRAFT
    iterations: tuple[Iteration, ...] = ()
    deleted: bool = False

    @property
    def running_iteration(self) -> Iteration | None:
        """The open iteration (there is one exactly while ACTIVE)."""
        last = self.iterations[-1] if self.iterations else None
        return last if last is not None and last.ended_at is None else None


def _created(event: ExperimentCreated) -> Experiment:
    return Experiment(
        id=event.stream_id,
        version=event.version,
        environment_id=event.environment_id,
        flag_key=event.flag_key,
        name=event.name,
        variant_keys=event.variant_keys,
        control_variant=event.control_variant,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        description=event.description,
        metric_keys=event.metric_keys,
        weights=event.weights,
        traffic_allocation=event.traffic_allocation,
        stats_interval_minutes=event.stats_interval_minutes,
    )


def _started(event: ExperimentIterationStarted) -> Iteration:
    return Iteration(
        id=event.iteration_id,
        number=event.number,
        started_at=event.occurred_at,
        variant_keys=event.variant_keys,
        metric_keys=event.metric_keys,
        weights=event.weights,
        traffic_allocation=event.traffic_allocation,
    )


def _ended(iterations: tuple[Iteration, ...], number: int, at: datetime) -> tuple[Iteration, ...]:
    return tuple(msgspec.structs.replace(i, ended_at=at) if i.number == number else i for i in iterations)


def evolve(state: Experiment | None, event: ExperimentEvent) -> Experiment:
    """Fold one fact; never refuses."""
    if isinstance(event, ExperimentCreated):
        return _created(event)
    assert state is not None
    state = msgspec.structs.replace(state, version=event.version, updated_at=event.occurred_at)
    match event:
        case ExperimentUpdated():
            return msgspec.structs.replace(
                state,
                name=event.name,
                description=event.description,
                variant_keys=event.variant_keys,
                control_variant=event.control_variant,
                metric_keys=event.metric_keys,
                weights=event.weights,
                traffic_allocation=event.traffic_allocation,
                stats_interval_minutes=event.stats_interval_minutes,
            )
        case ExperimentStatusChanged(to_status=status):
            return msgspec.structs.replace(state, status=status)
        case ExperimentIterationStarted():
            return msgspec.structs.replace(state, iterations=(*state.iterations, _started(event)))
        case ExperimentIterationEnded(number=number, occurred_at=at):
            return msgspec.structs.replace(state, iterations=_ended(state.iterations, number, at))
        case ExperimentDeleted():
            return msgspec.structs.replace(state, deleted=True)


def replay(events: Iterable[ExperimentEvent]) -> Experiment | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
