"""Event-definition facts and intents; stream `stream_id("event_definition", environment_id, key)`."""

from __future__ import annotations

import enum
from uuid import UUID

from domain.events import Command, Event


class MetricValueType(enum.StrEnum):
    """The seed's MetricValueType; the wire names are permanent."""

    BOOL = "bool"
    INT = "int"
    DOUBLE = "double"


class EventDefinitionCreated(Event, frozen=True, kw_only=True, tag="event_definition.created"):
    environment_id: UUID
    key: str
    value_type: MetricValueType
    description: str = ""


class EventDefinitionUpdated(Event, frozen=True, kw_only=True, tag="event_definition.updated"):
    description: str


class EventDefinitionDeleted(Event, frozen=True, kw_only=True, tag="event_definition.deleted"):
    """The key is free again; ingest rejects it from now on."""


EventDefinitionEvent = EventDefinitionCreated | EventDefinitionUpdated | EventDefinitionDeleted


class CreateEventDefinition(Command, frozen=True, kw_only=True, tag="event_definition.create"):
    environment_id: UUID
    key: str
    value_type: MetricValueType
    description: str = ""


class UpdateEventDefinition(Command, frozen=True, kw_only=True, tag="event_definition.update"):
    """Change the description; `value_type`, when sent, must equal the current one."""

    environment_id: UUID
    key: str
    description: str
    value_type: MetricValueType | None = None
    expected_version: int | None = None


class DeleteEventDefinition(Command, frozen=True, kw_only=True, tag="event_definition.delete"):
    environment_id: UUID
    key: str
    expected_version: int | None = None


EventDefinitionCommand = CreateEventDefinition | UpdateEventDefinition | DeleteEventDefinition
