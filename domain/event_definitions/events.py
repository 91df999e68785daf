"""Event-definition facts; stream `stream_id("event_definition", environment_id, key)`."""

from __future__ import annotations

import enum
from uuid import UUID

from domain.events import Event


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
