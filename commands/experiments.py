"""Experiment handlers for the bus (stream: the experiment's uuid4 id).

The flag's variants and the environment's metric keys are read from their own streams (deterministic
ids) in the same changeset, so validation sees the latest truth, not a lagging read model, and a change
to them racing the experiment's append is a version conflict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar
from uuid import UUID

from commands.bus import CommandBus, Context, Handler
from commands.eventstore import EventStore
from commands.kinds import EVENT_DEFINITION, EXPERIMENT, FLAG, KINDS
from commands.streams import Clock, Scope, Written
from domain.errors import ExperimentNotFound
from domain.event_definitions import event_definition as event_definitions
from domain.events import Command
from domain.experiments import experiment as exp
from domain.experiments.commands import (
    CreateExperiment,
    DeleteExperiment,
    TransitionExperiment,
    UpdateExperiment,
)
from domain.flags import flag as dfn
from domain.flags.model import Bucket

T = TypeVar("T")
ExperimentCommand = CreateExperiment | UpdateExperiment | TransitionExperiment | DeleteExperiment


class PatchExperiment(Command, frozen=True, kw_only=True, tag="experiment.patch"):
    """UpdateExperiment with every field optional: None keeps the experiment's current value."""

    experiment_id: UUID
    expected_version: int
    name: str | None = None
    description: str | None = None
    variant_keys: tuple[str, ...] | None = None
    control_variant: str | None = None
    metric_keys: tuple[str, ...] | None = None
    weights: tuple[Bucket, ...] | None = None
    traffic_allocation: float | None = None
    stats_interval_minutes: int | None = None


def _environment(ctx: Context) -> tuple[UUID | None, UUID | None]:
    meta = ctx.scope.metadata(ctx.command_id)
    return meta.project_id, meta.environment_id


async def live_experiment(ctx: Context, experiment_id: UUID) -> exp.Experiment:
    """The live experiment of the scope's environment, else ExperimentNotFound."""
    state: exp.Experiment | None = await ctx.load(EXPERIMENT, experiment_id)
    if state is None or state.deleted or state.environment_id != _environment(ctx)[1]:
        raise ExperimentNotFound(f"experiment {experiment_id} not found")
    return state


async def flag_variants(ctx: Context, flag_key: str) -> frozenset[str] | None:
    """The flag's variant keys, None when the project has no such live flag."""
    project_id, _ = _environment(ctx)
    if project_id is None:
        return None
    flag: dfn.Flag | None = await ctx.load(FLAG, dfn.flag_stream(project_id, flag_key))
    return None if flag is None or flag.deleted else flag.variant_keys


async def known_metrics(ctx: Context, keys: Iterable[str]) -> frozenset[str]:
    """Which of `keys` have a live event definition in the scope's environment."""
    _, environment_id = _environment(ctx)
    if environment_id is None:
        return frozenset()
    found = set()
    for key in sorted(set(keys)):
        stream = event_definitions.event_definition_stream(environment_id, key)
        definition = await ctx.load(EVENT_DEFINITION, stream)
        if definition is not None and not definition.deleted:
            found.add(key)
    return frozenset(found)


async def create_experiment(cmd: CreateExperiment, ctx: Context) -> None:
    """A DRAFT experiment on one of the project's flags, measuring registered metrics."""
    state = await ctx.load(EXPERIMENT, cmd.experiment_id)
    variants = await flag_variants(ctx, cmd.flag_key)
    metrics = await known_metrics(ctx, cmd.metric_keys)
    events = exp.create_experiment(state, cmd, ctx.now, flag_variants=variants, known_metrics=metrics)
    ctx.emit(cmd.experiment_id, events)


async def update_experiment(cmd: UpdateExperiment, ctx: Context) -> None:
    """Change what the experiment's status allows."""
    state = await live_experiment(ctx, cmd.experiment_id)
    variants = await flag_variants(ctx, state.flag_key)
    metrics = await known_metrics(ctx, cmd.metric_keys)
    events = exp.update_experiment(state, cmd, ctx.now, flag_variants=variants, known_metrics=metrics)
    ctx.emit(cmd.experiment_id, events)


async def patch_experiment(cmd: PatchExperiment, ctx: Context) -> None:
    """UpdateExperiment with the omitted fields taken from the experiment as the changeset finds it."""
    s = await live_experiment(ctx, cmd.experiment_id)
    update = UpdateExperiment(
        command_id=cmd.command_id,
        experiment_id=cmd.experiment_id,
        expected_version=cmd.expected_version,
        name=s.name if cmd.name is None else cmd.name,
        description=s.description if cmd.description is None else cmd.description,
        variant_keys=s.variant_keys if cmd.variant_keys is None else cmd.variant_keys,
        control_variant=cmd.control_variant or s.control_variant,
        metric_keys=s.metric_keys if cmd.metric_keys is None else cmd.metric_keys,
        weights=s.weights if cmd.weights is None else cmd.weights,
        traffic_allocation=_keep(cmd.traffic_allocation, s.traffic_allocation),
        stats_interval_minutes=_keep(cmd.stats_interval_minutes, s.stats_interval_minutes),
    )
    await update_experiment(update, ctx)


def _keep(given: T | None, current: T) -> T:
    return current if given is None else given


async def transition_experiment(cmd: TransitionExperiment, ctx: Context) -> None:
    """Move along DRAFT -> ACTIVE <-> PAUSED -> CONCLUDED."""
    state = await live_experiment(ctx, cmd.experiment_id)
    ctx.emit(cmd.experiment_id, exp.transition_experiment(state, cmd, ctx.now))


async def delete_experiment(cmd: DeleteExperiment, ctx: Context) -> None:
    """Delete a DRAFT or CONCLUDED experiment."""
    state = await live_experiment(ctx, cmd.experiment_id)
    ctx.emit(cmd.experiment_id, exp.delete_experiment(state, cmd, ctx.now))


def experiment_handlers() -> dict[type[Command], Handler]:
    """The experiment rows of the bus's handler table."""
    return {
        CreateExperiment: create_experiment,
        UpdateExperiment: update_experiment,
        PatchExperiment: patch_experiment,
        TransitionExperiment: transition_experiment,
        DeleteExperiment: delete_experiment,
    }


async def handle_experiment(
    cmd: ExperimentCommand, scope: Scope, *, store: EventStore, clock: Clock
) -> Written:
    """One experiment command through a bus of the experiment handlers alone (tests, tools)."""
    outcome = await CommandBus(store, experiment_handlers(), KINDS, clock=clock).handle(cmd, scope)
    return Written.from_outcome(outcome, cmd.experiment_id)
