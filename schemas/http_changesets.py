"""HTTP bodies of POST /v1/environments/{env_id}/changesets: an ordered list of operations, one transaction.

Each operation names its object (`flag` key or segment `key`) and is decided against the state the
earlier operations leave: a segment created by operation 1 may be named by operation 2's rule.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain.conditions.ast import Condition
from schemas.http_body import Body
from schemas.http_flags import RuleBody, ServeBody
from schemas.http_segments import SegmentKind
from schemas.http_types import Key, Position

MAX_OPERATIONS = 100


class Operation(Body, frozen=True, kw_only=True, tag_field="op"):
    """One step of a changeset."""


class CreateSegmentOp(Operation, frozen=True, kw_only=True, tag="create_segment"):
    key: Key
    kind: SegmentKind
    context_type: str = "user"
    name: str = ""
    description: str = ""
    condition: Condition | None = None
    included_keys: list[str] = []
    excluded_keys: list[str] = []


class ReplaceConditionOp(Operation, frozen=True, kw_only=True, tag="replace_segment_condition"):
    key: Key
    condition: Condition


class AddRuleOp(Operation, frozen=True, kw_only=True, tag="add_rule"):
    """Append a rule to the flag's rules in this environment."""

    flag: Key
    rule: RuleBody


class ReplaceRulesOp(Operation, frozen=True, kw_only=True, tag="replace_rules"):
    flag: Key
    rules: list[RuleBody]


class SetFallthroughOp(Operation, frozen=True, kw_only=True, tag="set_fallthrough"):
    """What the flag serves when no rule matches: a variant or a percentage rollout."""

    flag: Key
    fallthrough: ServeBody


class SetEnabledOp(Operation, frozen=True, kw_only=True, tag="set_enabled"):
    flag: Key
    enabled: bool


ChangesetOperation = (
    CreateSegmentOp | ReplaceConditionOp | AddRuleOp | ReplaceRulesOp | SetFallthroughOp | SetEnabledOp
)


class ChangesetBody(Body, frozen=True, kw_only=True):
    """1-100 operations, applied in order, all or none."""

    operations: Annotated[list[ChangesetOperation], msgspec.Meta(min_length=1, max_length=MAX_OPERATIONS)]


class StreamWritten(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: str
    first_position: Position
    last_position: Position
    version: int


class ChangesetView(msgspec.Struct, frozen=True, kw_only=True):
    """Where the changeset landed; `changeset_id` is its command id (the audit groups by it)."""

    changeset_id: str
    position: Position
    streams: list[StreamWritten]
    repeated: bool = False
