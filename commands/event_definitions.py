"""Event-definition handlers (stream `stream_id("event_definition", environment_id, key)`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from commands.eventstore import EventStore
from commands.streams import Clock, Scope, Written, decide_and_append, load_state
from domain.event_definitions import event_definition as dfn
from domain.event_definitions.commands import (
    CreateEventDefinition,
    DeleteEventDefinition,
    UpdateEventDefinition,
)
from domain.event_definitions.events import EventDefinitionEvent

MeasuredBy = Callable[[UUID, str], Awaitable[frozenset[str]]]  # env, metric key -> running experiments
STREAM_TYPE = "event_definition"
EventDefinitionCommand = CreateEventDefinition | UpdateEventDefinition | DeleteEventDefinition


async def load_event_definition(
    store: EventStore, environment_id: UUID, key: str
) -> dfn.EventDefinition | None:
    """The folded state (None for an empty stream)."""
    state, _ = await load_state(store, dfn.event_definition_stream(environment_id, key), dfn.replay)
    return state


async def handle_event_definition(
    cmd: EventDefinitionCommand, scope: Scope, *, store: EventStore, clock: Clock, measured_by: MeasuredBy
) -> Written:
    """Create, update or delete; deletion is refused while a running experiment measures the key."""
    now = clock()
    decide: Callable[[dfn.EventDefinition | None], list[EventDefinitionEvent]]
    match cmd:
        case CreateEventDefinition():
            decide = lambda s: dfn.create_event_definition(s, cmd, now)  # noqa: E731
        case UpdateEventDefinition():
            decide = lambda s: dfn.update_event_definition(s, cmd, now)  # noqa: E731
        case DeleteEventDefinition():
            users = await measured_by(cmd.environment_id, cmd.key)
            decide = lambda s: dfn.delete_event_definition(s, cmd, now, used_by=users)  # noqa: E731
    _, written = await decide_and_append(
        store,
        dfn.event_definition_stream(cmd.environment_id, cmd.key),
        STREAM_TYPE,
        dfn.replay,
        decide,
        command_id=cmd.command_id,
        metadata=scope.metadata(cmd.command_id),
    )
    return written
