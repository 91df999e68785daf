"""The event-definition aggregate: state, fold and deciders.

A definition's value type is permanent while it exists (stored metrics would change meaning); delete
and re-create the key to change it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import (
    EventDefinitionAlreadyExists,
    EventDefinitionInUse,
    EventDefinitionNotFound,
    MetricValueTypeChange,
    check_version,
)
from domain.event_definitions.commands import (
    CreateEventDefinition,
    DeleteEventDefinition,
    UpdateEventDefinition,
)
from domain.event_definitions.events import (
    EventDefinitionCreated,
    EventDefinitionDeleted,
    EventDefinitionEvent,
    EventDefinitionUpdated,
    MetricValueType,
)
from domain.ids import check_key, stream_id


class EventDefinition(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    environment_id: UUID
    key: str
    value_type: MetricValueType
    description: str = ""
    deleted: bool = False


def event_definition_stream(environment_id: UUID, key: str) -> UUID:
    """The stream of a metric key in an environment."""
    return stream_id("event_definition", environment_id, key)


def _live(state: EventDefinition | None, key: str, expected_version: int | None) -> EventDefinition:
    if state is None or state.deleted:
        raise EventDefinitionNotFound(f"event definition {key!r} not found")
    check_version(state.version, expected_version)
    return state


def create_event_definition(
    state: EventDefinition | None, cmd: CreateEventDefinition, now: datetime
) -> list[EventDefinitionEvent]:
    """Register a metric key; refused when the key is taken (a deleted key is free)."""
    if state is not None and not state.deleted:
        raise EventDefinitionAlreadyExists(f"event definition {cmd.key!r} already exists")
    check_key(cmd.key, what="event key")
    return [
        EventDefinitionCreated(
            stream_id=event_definition_stream(cmd.environment_id, cmd.key),
            version=1 if state is None else state.version + 1,
            occurred_at=now,
            environment_id=cmd.environment_id,
            key=cmd.key,
            value_type=cmd.value_type,
            description=cmd.description,
        )
    ]


def update_event_definition(
    state: EventDefinition | None, cmd: UpdateEventDefinition, now: datetime
) -> list[EventDefinitionEvent]:
    """Change the description; a different value type is refused, the same description is a no-op."""
    current = _live(state, cmd.key, cmd.expected_version)
    if cmd.value_type is not None and cmd.value_type != current.value_type:
        raise MetricValueTypeChange(f"event {cmd.key!r} is {current.value_type}; its type cannot change")
    if cmd.description == current.description:
        return []
    return [
        EventDefinitionUpdated(
            stream_id=current.id, version=current.version + 1, occurred_at=now, description=cmd.description
        )
    ]


def delete_event_definition(
    state: EventDefinition | None,
    cmd: DeleteEventDefinition,
    now: datetime,
    *,
    used_by: frozenset[str] = frozenset(),
) -> list[EventDefinitionEvent]:
    """Delete; refused while running experiments measure it (`used_by`: their names, from the handler)."""
    current = _live(state, cmd.key, cmd.expected_version)
    if used_by:
        raise EventDefinitionInUse(f"event {cmd.key!r} is measured by: {', '.join(sorted(used_by))}")
    return [EventDefinitionDeleted(stream_id=current.id, version=current.version + 1, occurred_at=now)]


def evolve(state: EventDefinition | None, event: EventDefinitionEvent) -> EventDefinition:
    """Fold one fact; never refuses."""
    match event:
        case EventDefinitionCreated(stream_id=id_, version=v, environment_id=env, key=key, value_type=t):
            return EventDefinition(
                id=id_, version=v, environment_id=env, key=key, value_type=t, description=event.description
            )
        case EventDefinitionUpdated(version=v, description=description):
            assert state is not None
            return msgspec.structs.replace(state, version=v, description=description)
        case EventDefinitionDeleted(version=v):
            assert state is not None
            return msgspec.structs.replace(state, version=v, deleted=True)


def replay(events: Iterable[EventDefinitionEvent]) -> EventDefinition | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
