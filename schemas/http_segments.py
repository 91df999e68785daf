"""HTTP bodies of the segment routes (/v1/environments/{env_id}/segments/...), seed snake_case names.

A segment is of kind "rule" (a condition, shipped to SDKs) or "list" (included / excluded context keys,
resolved by list-check). `version` is the segment stream's version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

import msgspec

from domain.conditions.ast import Condition
from schemas.http_types import Key, Version

SegmentKind = Literal["rule", "list"]


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (400)."""


_RULE_OR_LIST: dict[str, Any] = {
    "if": {"properties": {"kind": {"const": "rule"}}},
    "then": {
        "required": ["condition"],
        "properties": {
            "condition": {"not": {"type": "null"}},
            "included_keys": {"maxItems": 0},
            "excluded_keys": {"maxItems": 0},
        },
    },
    "else": {"properties": {"condition": {"type": "null"}}},
}


class CreateSegmentBody(Body, frozen=True, kw_only=True):
    """A rule segment needs `condition`; a list segment may start with included / excluded keys."""

    __json_schema_extra__: ClassVar[dict[str, Any]] = _RULE_OR_LIST

    key: Key
    kind: SegmentKind
    context_type: str = "user"
    name: str = ""
    description: str = ""
    condition: Condition | None = None
    included_keys: list[str] = []
    excluded_keys: list[str] = []


class UpdateSegmentBody(Body, frozen=True, kw_only=True):
    """Fields left out keep their value; `condition` only for rule segments; `included_keys` /
    `excluded_keys` (list segments) replace both lists wholesale when either is sent."""

    version: Version
    name: str | None = None
    description: str | None = None
    context_type: str | None = None
    condition: Condition | None = None
    included_keys: list[str] | None = None
    excluded_keys: list[str] | None = None


class MembersBody(Body, frozen=True, kw_only=True):
    """One batch of list-membership changes: `add` / `remove` on the included list, `add_excluded` /
    `remove_excluded` on the excluded list (exclusion wins); `version` is the segment's version read."""

    add: list[str] = []
    remove: list[str] = []
    add_excluded: list[str] = []
    remove_excluded: list[str] = []
    version: Version


class SegmentView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    environment_id: UUID
    key: Key
    kind: SegmentKind
    context_type: str
    name: str
    description: str
    condition: Condition | None
    included_count: int | None = None
    excluded_count: int | None = None
    version: int
    position: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SegmentList(msgspec.Struct, frozen=True, kw_only=True):
    segments: list[SegmentView]


class MembersView(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    included_keys: list[str]
    excluded_keys: list[str]
    version: int
    position: int


class DeletedSegment(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    deleted: bool
    position: int
