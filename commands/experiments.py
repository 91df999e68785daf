"""Experiment handlers (stream: the experiment's uuid4 id).

The flag's variants and the environment's metric keys are read from their own streams (deterministic
ids), so validation sees the latest truth, not a lagging read model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from uuid import UUID

from commands.event_definitions import load_event_definition
from commands.eventstore import EventStore
from commands.flags import load_flag
from commands.streams import Clock, Scope, Written, decide_and_append, load_state
from domain.errors import ExperimentNotFound
from domain.experiments import experiment as exp
from domain.experiments.commands import (
    CreateExperiment,
    DeleteExperiment,
    TransitionExperiment,
    UpdateExperiment,
)
from domain.experiments.events import ExperimentEvent

STREAM_TYPE = "experiment"
ExperimentCommand = CreateExperiment | UpdateExperiment | TransitionExperiment | DeleteExperiment


async def load_experiment(store: EventStore, scope: Scope, experiment_id: UUID) -> exp.Experiment:
    """The live experiment of the scope's environment, else ExperimentNotFound."""
    state, _ = await load_state(store, experiment_id, exp.replay, stream_type=STREAM_TYPE)
    if state is None or state.deleted or state.environment_id != scope.environment_id:
        raise ExperimentNotFound(f"experiment {experiment_id} not found")
    return state


async def flag_variants(store: EventStore, project_id: UUID, flag_key: str) -> frozenset[str] | None:
    """The flag's variant keys, None when the project has no such live flag."""
    flag = await load_flag(store, project_id, flag_key)
    return None if flag is None or flag.deleted else flag.variant_keys


async def known_metrics(store: EventStore, environment_id: UUID, keys: Iterable[str]) -> frozenset[str]:
    """Which of `keys` have a live event definition in the environment."""
    found = set()
    for key in set(keys):
        definition = await load_event_definition(store, environment_id, key)
        if definition is not None and not definition.deleted:
            found.add(key)
    return frozenset(found)


async def _decider(
    cmd: ExperimentCommand, scope: Scope, store: EventStore, clock: Clock
) -> Callable[[exp.Experiment | None], list[ExperimentEvent]]:
    now = clock()
    match cmd:
        case CreateExperiment() | UpdateExperiment():
            flag_key = cmd.flag_key if isinstance(cmd, CreateExperiment) else None
            if flag_key is None:
                flag_key = (await load_experiment(store, scope, cmd.experiment_id)).flag_key
            variants = await flag_variants(store, scope.project_id, flag_key)
            metrics = await known_metrics(store, scope.environment_id, cmd.metric_keys)
            if isinstance(cmd, CreateExperiment):
                return lambda s: exp.create_experiment(
                    s, cmd, now, flag_variants=variants, known_metrics=metrics
                )
            return lambda s: exp.update_experiment(s, cmd, now, flag_variants=variants, known_metrics=metrics)
        case TransitionExperiment():
            await load_experiment(store, scope, cmd.experiment_id)
            return lambda s: exp.transition_experiment(s, cmd, now)
        case DeleteExperiment():
            await load_experiment(store, scope, cmd.experiment_id)
            return lambda s: exp.delete_experiment(s, cmd, now)


async def handle_experiment(
    cmd: ExperimentCommand, scope: Scope, *, store: EventStore, clock: Clock
) -> Written:
    """Create, update, transition or delete an experiment of the scope's environment."""
    decide = await _decider(cmd, scope, store, clock)
    _, written = await decide_and_append(
        store,
        cmd.experiment_id,
        STREAM_TYPE,
        exp.replay,
        decide,
        command_id=cmd.command_id,
        metadata=scope.metadata(cmd.command_id),
    )
    return written
