"""Segment intents; each names its stream by `(environment_id, key)`."""

from __future__ import annotations

from uuid import UUID

from domain.conditions.ast import Condition
from domain.events import Command
from domain.segments.events import SegmentKind


class CreateSegment(Command, frozen=True, kw_only=True, tag="segment.create"):
    """A rule segment (with `condition`) or a list segment (with optional initial members)."""

    environment_id: UUID
    key: str
    kind: SegmentKind
    context_type: str
    name: str = ""
    description: str = ""
    condition: Condition | None = None
    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


class UpdateSegment(Command, frozen=True, kw_only=True, tag="segment.update"):
    environment_id: UUID
    key: str
    name: str
    description: str
    context_type: str
    expected_version: int | None = None


class ReplaceSegmentCondition(Command, frozen=True, kw_only=True, tag="segment.replace_condition"):
    environment_id: UUID
    key: str
    condition: Condition
    expected_version: int | None = None


class AddSegmentMembers(Command, frozen=True, kw_only=True, tag="segment.add_members"):
    environment_id: UUID
    key: str
    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


class RemoveSegmentMembers(Command, frozen=True, kw_only=True, tag="segment.remove_members"):
    environment_id: UUID
    key: str
    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


class ReplaceSegmentMembers(Command, frozen=True, kw_only=True, tag="segment.replace_members"):
    """Set both lists wholesale (the seed's PUT of a list segment)."""

    environment_id: UUID
    key: str
    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    expected_version: int | None = None


class DeleteSegment(Command, frozen=True, kw_only=True, tag="segment.delete"):
    environment_id: UUID
    key: str
    expected_version: int | None = None


SegmentCommand = (
    CreateSegment
    | UpdateSegment
    | ReplaceSegmentCondition
    | AddSegmentMembers
    | RemoveSegmentMembers
    | ReplaceSegmentMembers
    | DeleteSegment
)
