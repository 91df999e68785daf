"""HTTP bodies of the segment routes (/v1/environments/{env_id}/segments/...), seed snake_case names.

A segment is of kind "rule" (a condition, shipped to SDKs) or "list" (included / excluded context keys,
resolved by list-check). `version` is the segment stream's version.

A create body is also the seed's ListSegment or RuleSegment message: without `kind`, a body with a
condition (or the seed's `rule_payload`, the base64 of the condition's JSON) is a rule segment and any
other a list segment. Bodies may repeat the path's `environment_id` (and `key`, on update).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

import msgspec

from domain.conditions.ast import Condition
from domain.conditions.codec import ConditionError, decode_condition
from schemas.http_body import Body, BodyError, SeedRequest
from schemas.http_types import Key, Version

SegmentKind = Literal["rule", "list"]


_HAS_CONDITION: dict[str, Any] = {
    "required": ["condition"],
    "properties": {"condition": {"not": {"type": "null"}}},
}
_NO_CONDITION: dict[str, Any] = {"properties": {"condition": {"type": "null"}}}
_NO_PAYLOAD: dict[str, Any] = {"not": {"required": ["rule_payload"]}}
_IS_RULE: dict[str, Any] = {  # kind "rule", or no kind and a condition or a rule_payload
    "anyOf": [
        {"required": ["kind"], "properties": {"kind": {"const": "rule"}}},
        {
            "not": {"required": ["kind"]},
            "anyOf": [_HAS_CONDITION, {"required": ["rule_payload"]}],
        },
    ]
}
_RULE_OR_LIST: dict[str, Any] = {
    "if": _IS_RULE,
    "then": {  # exactly one of a condition and a rule_payload; no list members
        "oneOf": [
            {"allOf": [_HAS_CONDITION, _NO_PAYLOAD]},
            {"allOf": [{"required": ["rule_payload"]}, _NO_CONDITION]},
        ],
        "properties": {"included_keys": {"maxItems": 0}, "excluded_keys": {"maxItems": 0}},
    },
    "else": {"allOf": [_NO_CONDITION, _NO_PAYLOAD]},
}
RulePayload = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9+/]*={0,2}$",
        description="The seed's rule_payload: base64 of the condition's JSON (instead of `condition`).",
    ),
]


def payload_condition(payload: str) -> Condition:
    """The condition a seed `rule_payload` (base64 of its JSON) carries, or a BodyError."""
    try:
        raw = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise BodyError(f"rule_payload is not base64: {exc}") from None
    try:
        return decode_condition(raw)
    except ConditionError as exc:
        raise BodyError(f"rule_payload {exc}") from None


class CreateSegmentBody(Body, frozen=True, kw_only=True):
    """A rule segment needs `condition`; a list segment may start with included / excluded keys."""

    __json_schema_extra__: ClassVar[dict[str, Any]] = _RULE_OR_LIST
    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id"}

    key: Key
    kind: SegmentKind = "list"  # when absent, inferred by `with_inferred_fields`
    context_type: str = "user"
    name: str = ""
    description: str = ""
    condition: Condition | None = None
    included_keys: list[str] = []
    excluded_keys: list[str] = []
    rule_payload: RulePayload | msgspec.UnsetType = msgspec.UNSET
    environment_id: UUID | None = None

    @classmethod
    def with_inferred_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The seed's ListSegment / RuleSegment carry no `kind`: a condition or a payload means rule."""
        if "kind" in value:
            return value
        is_rule = value.get("condition") is not None or "rule_payload" in value
        return {**value, "kind": "rule" if is_rule else "list"}

    def __post_init__(self) -> None:
        """The seed's `rule_payload` becomes our `condition`."""
        super().__post_init__()
        if isinstance(self.rule_payload, str):
            if self.condition is not None:
                raise BodyError("give `condition` or `rule_payload`, not both")
            msgspec.structs.force_setattr(self, "condition", payload_condition(self.rule_payload))
            msgspec.structs.force_setattr(self, "rule_payload", msgspec.UNSET)


class ListSegmentMessage(Body, frozen=True, kw_only=True):
    """The seed's ListSegment."""

    key: Key
    context_type: str = "user"
    included_keys: list[str] = []
    excluded_keys: list[str] = []


class RuleSegmentMessage(Body, frozen=True, kw_only=True):
    """The seed's RuleSegment (its `id` is the server's to give)."""

    key: Key
    rule_payload: RulePayload
    context_type: str = "user"


class MutateSegmentRequest(SeedRequest, frozen=True, kw_only=True):
    """The seed's MutateSegmentRequest creating a segment: exactly one of `rule_segment` and
    `list_segment`; `version` is 0 for a creation."""

    __json_schema_extra__: ClassVar[dict[str, Any]] = {
        "oneOf": [{"required": ["rule_segment"]}, {"required": ["list_segment"]}]
    }

    environment_id: UUID | None = None
    kind: Literal["SEGMENT_MUTATION_KIND_CREATE", "SEGMENT_MUTATION_KIND_UNSPECIFIED"] = (
        "SEGMENT_MUTATION_KIND_CREATE"
    )
    rule_segment: RuleSegmentMessage | None = None
    list_segment: ListSegmentMessage | None = None
    version: Literal[0] = 0

    def native(self) -> CreateSegmentBody:
        if (self.rule_segment is None) == (self.list_segment is None):
            raise BodyError("give exactly one of `rule_segment` and `list_segment`")
        if self.rule_segment is not None:
            r = self.rule_segment
            return CreateSegmentBody(
                key=r.key, kind="rule", context_type=r.context_type, rule_payload=r.rule_payload,
                environment_id=self.environment_id,
            )  # fmt: skip
        assert self.list_segment is not None
        s = self.list_segment
        return CreateSegmentBody(
            key=s.key, kind="list", context_type=s.context_type, included_keys=s.included_keys,
            excluded_keys=s.excluded_keys, environment_id=self.environment_id,
        )  # fmt: skip


CreateSegmentBody.__seed_request__ = MutateSegmentRequest


class UpdateSegmentBody(Body, frozen=True, kw_only=True):
    """Fields left out keep their value; `condition` only for rule segments; `included_keys` /
    `excluded_keys` (list segments) replace both lists wholesale when either is sent."""

    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id", "key": "key"}

    version: Version
    name: str | None = None
    description: str | None = None
    context_type: str | None = None
    condition: Condition | None = None
    included_keys: list[str] | None = None
    excluded_keys: list[str] | None = None
    environment_id: UUID | None = None
    key: Key | None = None


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
