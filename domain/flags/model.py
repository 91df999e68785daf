"""Value objects of a flag as evaluation sees it (shared by server, broadcaster and SDK)."""

from __future__ import annotations

import enum
from typing import Any
from uuid import UUID

import msgspec

from domain.conditions.ast import Condition

# A variant's value: typed by the flag's ValueType; JSON values are any JSON document.
FlagValue = bool | int | float | str | dict[str, Any] | list[Any] | None

TOTAL_WEIGHT_MILLI = 1000  # 100.0 %, buckets are in units of 0.1 %
HASH_SPACE = 100_000


class ValueType(enum.StrEnum):
    BOOL = "bool"
    INT = "int"
    DOUBLE = "double"
    STRING = "string"
    JSON = "json"


class Variant(msgspec.Struct, frozen=True, kw_only=True):
    """A named value a flag can serve; belongs to the project."""

    key: str
    value: FlagValue
    name: str = ""
    description: str = ""


class Bucket(msgspec.Struct, frozen=True):
    """A slice of a percentage allocation; `weight_milli` is in units of 0.1 % (1000 = 100 %)."""

    variant_key: str
    weight_milli: int


# context_type -> parameter names to hash; an empty tuple means "the context's key".
HashSpec = dict[str, tuple[str, ...]]
DEFAULT_HASH_SPEC: HashSpec = {"user": ()}


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    """A deterministic percentage split; an empty `hash_spec` falls back to the environment's hashing."""

    buckets: tuple[Bucket, ...]
    hash_spec: HashSpec = msgspec.field(default_factory=dict)


class Serve(msgspec.Struct, frozen=True, kw_only=True):
    """What a rule or the fallthrough serves: exactly one of a variant or an allocation."""

    variant_key: str | None = None
    allocation: Allocation | None = None


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """An ordered targeting rule; the first whose condition matches serves."""

    id: str
    condition: Condition
    serve: Serve
    description: str = ""


class FlagConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A flag's configuration in one environment."""

    enabled: bool = False
    off_variant: str
    fallthrough: Serve
    rules: tuple[Rule, ...] = ()
    hashing: HashSpec = msgspec.field(default_factory=dict)


class FlagDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """Everything needed to evaluate one flag in one environment."""

    key: str
    project_id: UUID
    environment_id: UUID
    value_type: ValueType
    variants: tuple[Variant, ...]
    config: FlagConfig
    version: int = 0
    archived: bool = False


class RuleSegment(msgspec.Struct, frozen=True, kw_only=True):
    """A segment defined by a condition, evaluated in-process."""

    id: UUID
    key: str
    context_type: str
    condition: Condition
    version: int = 0


class ListSegmentMeta(msgspec.Struct, frozen=True, kw_only=True):
    """A list segment's identity; membership is resolved by a list-check, not shipped to SDKs."""

    id: UUID
    key: str
    context_type: str
    version: int = 0


class Reason(enum.StrEnum):
    DISABLED = "DISABLED"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DEFAULT = "DEFAULT"
    ERROR = "ERROR"


class ErrorCode(enum.StrEnum):
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    GENERAL = "GENERAL"


class EvaluationResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one evaluation; `value` is None on error (the caller's default applies)."""

    flag_key: str
    value: FlagValue
    variant_key: str | None
    reason: Reason
    rule_id: str | None = None
    error_code: ErrorCode | None = None
    sequence: int = 0
