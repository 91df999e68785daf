"""Event-definition intents; each names its stream by `(environment_id, key)`."""

from __future__ import annotations

from uuid import UUID

from domain.event_definitions.events import MetricValueType
from domain.events import Command


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
