"""Segment facts; stream `stream_id("segment", environment_id, key)`."""

from __future__ import annotations

import enum
from uuid import UUID

from domain.conditions.ast import Condition
from domain.events import Event


class SegmentKind(enum.StrEnum):
    RULE = "rule"
    LIST = "list"


class SegmentCreated(Event, frozen=True, kw_only=True, tag="segment.created"):
    """A segment; `condition` is set exactly for rule segments."""

    environment_id: UUID
    key: str
    kind: SegmentKind
    context_type: str
    name: str = ""
    description: str = ""
    condition: Condition | None = None


class SegmentDetailsUpdated(Event, frozen=True, kw_only=True, tag="segment.details_updated"):
    name: str
    description: str
    context_type: str


class SegmentConditionReplaced(Event, frozen=True, kw_only=True, tag="segment.condition_replaced"):
    condition: Condition


class SegmentMembersAdded(Event, frozen=True, kw_only=True, tag="segment.members_added"):
    """One batch of context keys added to the included / excluded lists (exclusion wins)."""

    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


class SegmentMembersRemoved(Event, frozen=True, kw_only=True, tag="segment.members_removed"):
    """One batch of context keys taken off the included / excluded lists."""

    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


class SegmentMembersCleared(Event, frozen=True, kw_only=True, tag="segment.members_cleared"):
    """Both lists are empty from here on."""


class SegmentDeleted(Event, frozen=True, kw_only=True, tag="segment.deleted"):
    """The key is free again; a later SegmentCreated on the same stream starts a new segment."""


SegmentEvent = (
    SegmentCreated
    | SegmentDetailsUpdated
    | SegmentConditionReplaced
    | SegmentMembersAdded
    | SegmentMembersRemoved
    | SegmentMembersCleared
    | SegmentDeleted
)
