"""The experiment aggregate: its state, deciders (the state machine and what may change when) and fold.

Transitions: DRAFT -> ACTIVE, ACTIVE -> PAUSED, PAUSED -> ACTIVE, ACTIVE -> CONCLUDED, PAUSED -> CONCLUDED.
DRAFT -> CONCLUDED is refused (a draft that never ran has nothing to conclude: delete it). Asking for
the current status is a no-op. Each activation starts an iteration; each pause or conclusion from
ACTIVE ends it.

Updates by status: DRAFT - every field; PAUSED - name, description, metric keys and traffic allocation
(they take effect with the next iteration); ACTIVE - name and description; CONCLUDED - nothing. The
stats interval (1..10080 minutes) may change in every status but CONCLUDED: it only paces the stats
worker, never what an iteration measures.
Deletion: only DRAFT or CONCLUDED experiments.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import (
    DuplicateMetricKey,
    DuplicateVariantKey,
    ExperimentAlreadyExists,
    ExperimentNotDeletable,
    ExperimentNotEditable,
    ExperimentNotFound,
    FlagNotFound,
    IllegalTransition,
    InvalidTrafficAllocation,
    TooFewVariants,
    UnknownMetric,
    UnknownVariant,
    check_version,
)
from domain.experiments.commands import (
    CreateExperiment,
    DeleteExperiment,
    TransitionExperiment,
    UpdateExperiment,
)
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
from domain.experiments.schedule import DEFAULT_STATS_INTERVAL_MINUTES, check_stats_interval
from domain.flags.model import Allocation, Bucket
from domain.flags.validation import check_allocation
from domain.ids import check_key, check_name, stream_id


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


S = ExperimentStatus
TRANSITIONS: frozenset[tuple[ExperimentStatus, ExperimentStatus]] = frozenset(
    {
        (S.DRAFT, S.ACTIVE),
        (S.ACTIVE, S.PAUSED),
        (S.PAUSED, S.ACTIVE),
        (S.ACTIVE, S.CONCLUDED),
        (S.PAUSED, S.CONCLUDED),
    }
)
Spec = CreateExperiment | UpdateExperiment


def iteration_id(experiment_id: UUID, number: int) -> UUID:
    """Deterministic id of an experiment's n-th iteration (1-based)."""
    return stream_id("experiment_iteration", experiment_id, number)


def _check_variants(spec: Spec, flag_variants: frozenset[str] | None) -> None:
    if flag_variants is None:
        raise FlagNotFound("the experiment's flag does not exist")
    if len(spec.variant_keys) < 2:
        raise TooFewVariants("an experiment compares at least two variants")
    if len(set(spec.variant_keys)) != len(spec.variant_keys):
        raise DuplicateVariantKey("an experiment lists a variant twice")
    unknown = sorted(set(spec.variant_keys) - flag_variants)
    if unknown:
        raise UnknownVariant(f"the flag has no variant(s): {', '.join(unknown)}")
    if spec.control_variant not in spec.variant_keys:
        raise UnknownVariant(f"control variant {spec.control_variant!r} is not among the variants")
    if spec.weights:
        check_allocation(Allocation(buckets=spec.weights), frozenset(spec.variant_keys))


def _check_metrics(metric_keys: tuple[str, ...], new_keys: set[str], known_metrics: frozenset[str]) -> None:
    if len(set(metric_keys)) != len(metric_keys):
        raise DuplicateMetricKey("an experiment lists a metric twice")
    unknown = sorted(new_keys - known_metrics)
    if unknown:
        raise UnknownMetric(f"no event definition for metric(s): {', '.join(unknown)}")


def _check_traffic(traffic: float) -> None:
    if not (math.isfinite(traffic) and 0 < traffic <= 1):
        raise InvalidTrafficAllocation("traffic allocation must be in (0, 1]")


def create_experiment(
    state: Experiment | None,
    cmd: CreateExperiment,
    now: datetime,
    *,
    flag_variants: frozenset[str] | None,
    known_metrics: frozenset[str] = frozenset(),
) -> list[ExperimentEvent]:
    """A DRAFT experiment; `flag_variants` (None: no such flag) and `known_metrics` come from the handler."""
    if state is not None:
        raise ExperimentAlreadyExists(f"experiment {cmd.experiment_id} already exists")
    check_key(cmd.flag_key, what="flag key")
    _check_variants(cmd, flag_variants)
    _check_metrics(cmd.metric_keys, set(cmd.metric_keys), known_metrics)
    _check_traffic(cmd.traffic_allocation)
    check_stats_interval(cmd.stats_interval_minutes)
    return [
        ExperimentCreated(
            stream_id=cmd.experiment_id,
            version=1,
            occurred_at=now,
            environment_id=cmd.environment_id,
            flag_key=cmd.flag_key,
            name=check_name(cmd.name),
            variant_keys=cmd.variant_keys,
            control_variant=cmd.control_variant,
            description=cmd.description,
            metric_keys=cmd.metric_keys,
            weights=cmd.weights,
            traffic_allocation=cmd.traffic_allocation,
            stats_interval_minutes=cmd.stats_interval_minutes,
        )
    ]


def _live(state: Experiment | None, experiment_id: UUID, expected_version: int | None) -> Experiment:
    if state is None or state.deleted:
        raise ExperimentNotFound(f"experiment {experiment_id} not found")
    check_version(state.version, expected_version)
    return state


def _changed_fields(state: Experiment, cmd: UpdateExperiment) -> set[str]:
    fields = ("name", "description", "variant_keys", "control_variant", "metric_keys", "weights")
    changed = {f for f in fields if getattr(cmd, f) != getattr(state, f)}
    if cmd.traffic_allocation != state.traffic_allocation:
        changed.add("traffic_allocation")
    if cmd.stats_interval_minutes != state.stats_interval_minutes:
        changed.add("stats_interval_minutes")
    return changed


EDITABLE: dict[ExperimentStatus, frozenset[str]] = {
    S.DRAFT: frozenset(
        {
            "name",
            "description",
            "variant_keys",
            "control_variant",
            "metric_keys",
            "weights",
            "traffic_allocation",
            "stats_interval_minutes",
        }
    ),
    S.PAUSED: frozenset(
        {"name", "description", "metric_keys", "traffic_allocation", "stats_interval_minutes"}
    ),
    S.ACTIVE: frozenset({"name", "description", "stats_interval_minutes"}),
    S.CONCLUDED: frozenset(),
}


def update_experiment(
    state: Experiment | None,
    cmd: UpdateExperiment,
    now: datetime,
    *,
    flag_variants: frozenset[str] | None = None,
    known_metrics: frozenset[str] = frozenset(),
) -> list[ExperimentEvent]:
    """Replace the editable fields; only changed ones are checked (the module doc says what may change)."""
    current = _live(state, cmd.experiment_id, cmd.expected_version)
    cmd = msgspec.structs.replace(cmd, name=check_name(cmd.name))
    changed = _changed_fields(current, cmd)
    if not changed:
        return []
    refused = sorted(changed - EDITABLE[current.status])
    if refused:
        raise ExperimentNotEditable(f"cannot change {', '.join(refused)} of a {current.status} experiment")
    if changed & {"variant_keys", "control_variant", "weights"}:
        _check_variants(cmd, flag_variants)
    _check_metrics(cmd.metric_keys, set(cmd.metric_keys) - set(current.metric_keys), known_metrics)
    _check_traffic(cmd.traffic_allocation)
    check_stats_interval(cmd.stats_interval_minutes)
    return [
        ExperimentUpdated(
            stream_id=current.id,
            version=current.version + 1,
            occurred_at=now,
            name=cmd.name,
            description=cmd.description,
            variant_keys=cmd.variant_keys,
            control_variant=cmd.control_variant,
            metric_keys=cmd.metric_keys,
            weights=cmd.weights,
            traffic_allocation=cmd.traffic_allocation,
            stats_interval_minutes=cmd.stats_interval_minutes,
        )
    ]


def transition_experiment(
    state: Experiment | None, cmd: TransitionExperiment, now: datetime
) -> list[ExperimentEvent]:
    """Move along the state machine, starting or ending iterations; the current status is a no-op."""
    current = _live(state, cmd.experiment_id, cmd.expected_version)
    old, new = current.status, cmd.new_status
    if old == new:
        return []
    if (old, new) not in TRANSITIONS:
        raise IllegalTransition(f"an experiment cannot go from {old} to {new}")
    version = current.version
    events: list[ExperimentEvent] = []
    running = current.running_iteration
    if running is not None:
        version += 1
        events.append(
            ExperimentIterationEnded(
                stream_id=current.id,
                version=version,
                occurred_at=now,
                iteration_id=running.id,
                number=running.number,
            )
        )
    version += 1
    events.append(
        ExperimentStatusChanged(
            stream_id=current.id,
            version=version,
            occurred_at=now,
            from_status=old,
            to_status=new,
            reason=cmd.reason,
        )
    )
    if new is S.ACTIVE:
        number = len(current.iterations) + 1
        events.append(
            ExperimentIterationStarted(
                stream_id=current.id,
                version=version + 1,
                occurred_at=now,
                iteration_id=iteration_id(current.id, number),
                number=number,
                variant_keys=current.variant_keys,
                metric_keys=current.metric_keys,
                weights=current.weights,
                traffic_allocation=current.traffic_allocation,
            )
        )
    return events


def delete_experiment(
    state: Experiment | None, cmd: DeleteExperiment, now: datetime
) -> list[ExperimentEvent]:
    """Delete a DRAFT or CONCLUDED experiment; a running or paused one must be concluded first."""
    current = _live(state, cmd.experiment_id, cmd.expected_version)
    if current.status not in (S.DRAFT, S.CONCLUDED):
        raise ExperimentNotDeletable(f"a {current.status} experiment cannot be deleted; conclude it first")
    return [ExperimentDeleted(stream_id=current.id, version=current.version + 1, occurred_at=now)]


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
