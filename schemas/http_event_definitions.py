"""HTTP bodies of the event-definition routes (/v1/environments/{env_id}/event-definitions/...)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

from schemas.http_types import Key, Version

MetricType = Literal["bool", "int", "double"]


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (400)."""


class CreateEventDefinitionBody(Body, frozen=True, kw_only=True):
    key: Key
    value_type: MetricType
    description: str = ""


class UpdateEventDefinitionBody(Body, frozen=True, kw_only=True):
    """Only the description changes; a value type is permanent."""

    version: Version
    description: str | None = None
    value_type: MetricType | None = None


class EventDefinitionView(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's EventDefinition plus versioning."""

    key: str
    description: str
    value_type: MetricType
    environment_id: UUID
    version: int
    position: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


class EventDefinitionList(msgspec.Struct, frozen=True, kw_only=True):
    event_definitions: list[EventDefinitionView]


class DeletedEventDefinition(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    deleted: bool
    position: int
