"""HTTP bodies of the flag routes (/v1/environments/{env_id}/flags/...), seed snake_case names.

`version` on an environment route is that environment's flag-config stream version (0 while the flag
has no config there); `definition_version` is the project-level definition's own version.
Conditions are the JSON encoding of domain.conditions.ast (the seed's `rule_payload`). `value_type`
may be the seed's FlagValueType name (`FLAG_VALUE_TYPE_BOOL`); the hashing body is also the seed's
UpdateFlagHashingRequest (with `environment_id` / `flag_key` repeating the path's).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import msgspec

from domain.conditions.ast import Condition
from schemas.http_body import Body
from schemas.http_types import Int64, Key, OptionalKey, Position, Rfc3339, ValueTypeName, Version, WeightMilli


class VariantBody(Body, frozen=True, kw_only=True):
    key: Key
    value: Any
    name: str = ""
    description: str = ""


class BucketBody(Body, frozen=True, kw_only=True):
    variant_key: str
    weight_milli: WeightMilli


class ContextHashSpecBody(Body, frozen=True, kw_only=True):
    """Parameter names of one context type to hash; empty means the context's key."""

    parameter_names: list[str] = []


class AllocationBody(Body, frozen=True, kw_only=True):
    """A percentage split; weights in 0.1 % units summing to 1000."""

    buckets: list[BucketBody]
    context_hash_specs: dict[str, ContextHashSpecBody] = {}


class ServeBody(Body, frozen=True, kw_only=True):
    """Exactly one of a variant key or an allocation."""

    variant_key: str | None = None
    allocation: AllocationBody | None = None


class RuleBody(Body, frozen=True, kw_only=True):
    """An ordered targeting rule; a blank `id` gets a generated one."""

    condition: Condition
    serve: ServeBody
    id: OptionalKey = ""
    description: str = ""


class CreateFlagBody(Body, frozen=True, kw_only=True):
    """Also the seed's MutateFlagRequest (CREATE), `{"flag": {...}}`."""

    __proto_enums__: ClassVar[Mapping[str, str]] = {"value_type": "FLAG_VALUE_TYPE_"}
    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id"}

    key: Key
    value_type: ValueTypeName
    variants: list[VariantBody]
    name: str = ""
    description: str = ""
    enabled: bool = False
    off_variant: str | None = None
    fallthrough: ServeBody | None = None
    rules: list[RuleBody] = []
    environment_id: UUID | None = None


class UpdateFlagBody(Body, frozen=True, kw_only=True):
    """Fields left out keep their value; `version` is the environment config version read."""

    version: Version
    enabled: bool | None = None
    off_variant: str | None = None
    fallthrough: ServeBody | None = None
    name: str | None = None
    description: str | None = None


class AddVariantBody(Body, frozen=True, kw_only=True):
    key: Key
    value: Any
    name: str = ""
    description: str = ""
    version: Version


class ReplaceRulesBody(Body, frozen=True, kw_only=True):
    version: Version
    rules: list[RuleBody]


class HashingConfigBody(Body, frozen=True, kw_only=True):
    """The seed's FlagHashingConfig: `parameter_type` is the context type, `parameter_key` a parameter
    name (blank or "key" for the context key); `order` sorts parameters within a context type."""

    parameter_key: str
    parameter_type: str = "user"
    order: Int64 = 0


class UpdateHashingBody(Body, frozen=True, kw_only=True):
    """The seed's UpdateFlagHashingRequest plus `version` (every change names the version it read)."""

    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id", "flag_key": "key"}

    version: Version
    configs: list[HashingConfigBody]
    environment_id: UUID | None = None
    flag_key: Key | None = None


class ToggleBody(Body, frozen=True, kw_only=True):
    """Kill switch: `enabled` None flips the current state; `version` is the config version read."""

    version: Version
    enabled: bool | None = None


class ArchiveBody(Body, frozen=True, kw_only=True):
    version: Version


# --- responses --------------------------------------------------------------------------------------


class VariantView(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: Any
    name: str
    description: str


class BucketView(msgspec.Struct, frozen=True, kw_only=True):
    variant_key: str
    weight_milli: int


class ContextHashSpecView(msgspec.Struct, frozen=True, kw_only=True):
    parameter_names: list[str]


class AllocationView(msgspec.Struct, frozen=True, kw_only=True):
    buckets: list[BucketView]
    context_hash_specs: dict[str, ContextHashSpecView]


class ServeView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    variant_key: str | None = None
    allocation: AllocationView | None = None


class RuleView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    condition: Condition
    serve: ServeView
    description: str


class HashingConfigView(msgspec.Struct, frozen=True, kw_only=True):
    parameter_key: str
    parameter_type: str
    order: int


class FlagView(msgspec.Struct, frozen=True, kw_only=True):
    """A flag as seen from one environment, with its versions and the store position of its last change."""

    key: str
    project_id: UUID
    environment_id: UUID
    name: str
    description: str
    value_type: str
    variants: list[VariantView]
    enabled: bool
    off_variant: str
    fallthrough: ServeView
    rules: list[RuleView]
    hashing: list[HashingConfigView]
    archived: bool
    version: int
    definition_version: int
    position: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


class FlagList(msgspec.Struct, frozen=True, kw_only=True):
    flags: list[FlagView]


class HashingView(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's UpdateFlagHashingResponse."""

    flag: FlagView
    configs: list[HashingConfigView]
    version: int
    position: int


class DeletedView(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    deleted: bool
    position: int


class RevertBody(Body, frozen=True, kw_only=True):
    """Restore this environment's config as it was at the last store position at or before both bounds
    given, `position` and the time `at` (neither: the current config, a no-op)."""

    version: Version
    position: Position | None = None
    at: Rfc3339 | None = None


# The seed's MutateFlagRequest, which CreateFlagBody may also be sent as (it refers to the classes above).
from schemas import http_flag_messages  # noqa: E402, F401
