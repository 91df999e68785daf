"""Event-definition handlers for the bus (stream `stream_id("event_definition", environment_id, key)`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from uuid import UUID

from commands.bus import CommandBus, Context, Handler
from commands.eventstore import EventStore
from commands.kinds import EVENT_DEFINITION, KINDS
from commands.streams import Clock, Scope, Written
from domain.event_definitions import event_definition as dfn
from domain.event_definitions.commands import (
    CreateEventDefinition,
    DeleteEventDefinition,
    UpdateEventDefinition,
)
from domain.event_definitions.events import MetricValueType
from domain.events import Command

MeasuredBy = Callable[[UUID, str], Awaitable[frozenset[str]]]  # env, metric key -> running experiments
EventDefinitionCommand = CreateEventDefinition | UpdateEventDefinition | DeleteEventDefinition


class PatchEventDefinition(Command, frozen=True, kw_only=True, tag="event_definition.patch"):
    """UpdateEventDefinition with `description` optional (None keeps the current one)."""

    environment_id: UUID
    key: str
    expected_version: int
    description: str | None = None
    value_type: MetricValueType | None = None


def _stream(environment_id: UUID, key: str) -> UUID:
    return dfn.event_definition_stream(environment_id, key)


async def create_event_definition(cmd: CreateEventDefinition, ctx: Context) -> None:
    """Register a metric key with its value type."""
    stream = _stream(cmd.environment_id, cmd.key)
    ctx.emit(stream, dfn.create_event_definition(await ctx.load(EVENT_DEFINITION, stream), cmd, ctx.now))


async def update_event_definition(cmd: UpdateEventDefinition, ctx: Context) -> None:
    """Change the description (a different value type is refused)."""
    stream = _stream(cmd.environment_id, cmd.key)
    ctx.emit(stream, dfn.update_event_definition(await ctx.load(EVENT_DEFINITION, stream), cmd, ctx.now))


async def patch_event_definition(cmd: PatchEventDefinition, ctx: Context) -> None:
    """UpdateEventDefinition with the current description when none is given."""
    current: dfn.EventDefinition | None = await ctx.load(
        EVENT_DEFINITION, _stream(cmd.environment_id, cmd.key)
    )
    kept = current.description if current is not None else ""  # the decider refuses a missing one
    update = UpdateEventDefinition(
        command_id=cmd.command_id, environment_id=cmd.environment_id, key=cmd.key,
        description=kept if cmd.description is None else cmd.description,
        value_type=cmd.value_type, expected_version=cmd.expected_version,
    )  # fmt: skip
    await update_event_definition(update, ctx)


async def delete_event_definition(
    cmd: DeleteEventDefinition, ctx: Context, *, measured_by: MeasuredBy
) -> None:
    """Delete; refused while a running experiment measures the key."""
    stream = _stream(cmd.environment_id, cmd.key)
    users = await measured_by(cmd.environment_id, cmd.key)
    state = await ctx.load(EVENT_DEFINITION, stream)
    ctx.emit(stream, dfn.delete_event_definition(state, cmd, ctx.now, used_by=users))


def event_definition_handlers(measured_by: MeasuredBy) -> dict[type[Command], Handler]:
    """The event-definition rows of the bus's handler table."""
    return {
        CreateEventDefinition: create_event_definition,
        UpdateEventDefinition: update_event_definition,
        PatchEventDefinition: patch_event_definition,
        DeleteEventDefinition: functools.partial(delete_event_definition, measured_by=measured_by),
    }


async def handle_event_definition(
    cmd: EventDefinitionCommand, scope: Scope, *, store: EventStore, clock: Clock, measured_by: MeasuredBy
) -> Written:
    """One event-definition command through a bus of these handlers alone (tests, tools)."""
    bus = CommandBus(store, event_definition_handlers(measured_by), KINDS, clock=clock)
    outcome = await bus.handle(cmd, scope)
    return Written.from_outcome(outcome, _stream(cmd.environment_id, cmd.key))
