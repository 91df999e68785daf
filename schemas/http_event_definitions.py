"""HTTP bodies of the event-definition routes (/v1/environments/{env_id}/event-definitions/...).

A body is also the seed's EventDefinition message: `value_type` may be the proto enum name
(`METRIC_VALUE_TYPE_BOOL`), and `environment_id` / `key` may repeat the path's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

import msgspec

from schemas.http_body import Body
from schemas.http_types import Key, Version

MetricType = Literal["bool", "int", "double"]
MetricTypeName = Literal[  # ours, or the seed's MetricValueType names
    "bool", "int", "double", "METRIC_VALUE_TYPE_BOOL", "METRIC_VALUE_TYPE_INT", "METRIC_VALUE_TYPE_DOUBLE"
]  # fmt: skip
_ENUMS: Mapping[str, str] = {"value_type": "METRIC_VALUE_TYPE_"}


class CreateEventDefinitionBody(Body, frozen=True, kw_only=True):
    __proto_enums__: ClassVar[Mapping[str, str]] = _ENUMS
    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id"}

    key: Key
    value_type: MetricTypeName
    description: str = ""
    environment_id: UUID | None = None


class UpdateEventDefinitionBody(Body, frozen=True, kw_only=True):
    """Only the description changes; a value type is permanent."""

    __proto_enums__: ClassVar[Mapping[str, str]] = _ENUMS
    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id", "key": "key"}

    version: Version
    description: str | None = None
    value_type: MetricTypeName | None = None
    environment_id: UUID | None = None
    key: Key | None = None


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
