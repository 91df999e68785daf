"""The segment aggregate: state, fold and deciders.

A list segment's members are not held in the state (lists can be large): the events carry each batch
and the read model holds the members; the state counts membership batches. Rule conditions may name
other segments; the handler passes `segment_graph` (every live segment key of the environment mapped to
the keys its condition names) so unknown references and cycles are refused.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.conditions.ast import Condition
from domain.errors import (
    InvalidSegmentDefinition,
    SegmentAlreadyExists,
    SegmentInUse,
    SegmentKindMismatch,
    SegmentNotFound,
    check_version,
)
from domain.flags.model import ListSegmentMeta, RuleSegment
from domain.ids import check_key, check_name, stream_id
from domain.segments.commands import (
    AddSegmentMembers,
    CreateSegment,
    DeleteSegment,
    RemoveSegmentMembers,
    ReplaceSegmentCondition,
    ReplaceSegmentMembers,
    UpdateSegment,
)
from domain.segments.events import (
    SegmentConditionReplaced,
    SegmentCreated,
    SegmentDeleted,
    SegmentDetailsUpdated,
    SegmentEvent,
    SegmentKind,
    SegmentMembersAdded,
    SegmentMembersCleared,
    SegmentMembersRemoved,
)
from domain.segments.graph import NO_SEGMENTS, SegmentGraph, check_references
from domain.segments.members import batches, clean_batch


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    environment_id: UUID
    key: str
    kind: SegmentKind
    context_type: str
    name: str = ""
    description: str = ""
    condition: Condition | None = None
    membership_batches: int = 0  # membership events since creation (added, removed or cleared)
    deleted: bool = False


def segment_stream(environment_id: UUID, key: str) -> UUID:
    """The stream of a segment key in an environment."""
    return stream_id("segment", environment_id, key)


def _live(segment: Segment | None, key: str, expected_version: int | None = None) -> Segment:
    if segment is None or segment.deleted:
        raise SegmentNotFound(f"segment {key!r} not found")
    check_version(segment.version, expected_version)
    return segment


def create_segment(
    segment: Segment | None, cmd: CreateSegment, now: datetime, *, segment_graph: SegmentGraph = NO_SEGMENTS
) -> list[SegmentEvent]:
    """A new rule or list segment (list members in bounded batches); a deleted segment's key is free."""
    if segment is not None and not segment.deleted:
        raise SegmentAlreadyExists(f"segment {cmd.key!r} already exists")
    check_key(cmd.key, what="segment key")
    context_type = check_name(cmd.context_type, what="context type")
    is_rule = cmd.kind is SegmentKind.RULE
    if (cmd.condition is not None) != is_rule or (is_rule and (cmd.included or cmd.excluded)):
        raise InvalidSegmentDefinition("rule segments need a condition, list segments members")
    if cmd.condition is not None:
        check_references(cmd.key, cmd.condition, segment_graph)
    included, excluded = clean_batch(cmd.included, cmd.excluded)
    stream = segment_stream(cmd.environment_id, cmd.key)
    version = 0 if segment is None else segment.version
    created = SegmentCreated(
        stream_id=stream,
        version=version + 1,
        occurred_at=now,
        environment_id=cmd.environment_id,
        key=cmd.key,
        kind=cmd.kind,
        context_type=context_type,
        name=cmd.name.strip(),
        description=cmd.description,
        condition=cmd.condition,
    )
    members = [
        SegmentMembersAdded(
            stream_id=stream, version=version + i, occurred_at=now, included=inc, excluded=exc
        )
        for i, (inc, exc) in enumerate(batches(included, excluded), start=2)
    ]
    return [created, *members]


def update_segment(segment: Segment | None, cmd: UpdateSegment, now: datetime) -> list[SegmentEvent]:
    """Change name, description and context type; unchanged values are a no-op."""
    current = _live(segment, cmd.key, cmd.expected_version)
    details = (cmd.name.strip(), cmd.description, check_name(cmd.context_type, what="context type"))
    if details == (current.name, current.description, current.context_type):
        return []
    name, description, context_type = details
    return [
        SegmentDetailsUpdated(
            stream_id=current.id,
            version=current.version + 1,
            occurred_at=now,
            name=name,
            description=description,
            context_type=context_type,
        )
    ]


def replace_condition(
    segment: Segment | None,
    cmd: ReplaceSegmentCondition,
    now: datetime,
    *,
    segment_graph: SegmentGraph = NO_SEGMENTS,
) -> list[SegmentEvent]:
    """A rule segment's new condition; refused for list segments, unknown references and cycles."""
    current = _live(segment, cmd.key, cmd.expected_version)
    if current.kind is not SegmentKind.RULE:
        raise SegmentKindMismatch(f"segment {cmd.key!r} is a list segment")
    if cmd.condition == current.condition:
        return []
    check_references(cmd.key, cmd.condition, segment_graph)
    return [
        SegmentConditionReplaced(
            stream_id=current.id, version=current.version + 1, occurred_at=now, condition=cmd.condition
        )
    ]


def _list_segment(segment: Segment | None, key: str, expected_version: int | None = None) -> Segment:
    current = _live(segment, key, expected_version)
    if current.kind is not SegmentKind.LIST:
        raise SegmentKindMismatch(f"segment {key!r} is a rule segment")
    return current


def add_members(segment: Segment | None, cmd: AddSegmentMembers, now: datetime) -> list[SegmentEvent]:
    """Add keys to the lists in bounded batches; no keys is a no-op."""
    current = _list_segment(segment, cmd.key)
    included, excluded = clean_batch(cmd.included, cmd.excluded)
    return [
        SegmentMembersAdded(
            stream_id=current.id, version=current.version + i, occurred_at=now, included=inc, excluded=exc
        )
        for i, (inc, exc) in enumerate(batches(included, excluded), start=1)
    ]


def remove_members(segment: Segment | None, cmd: RemoveSegmentMembers, now: datetime) -> list[SegmentEvent]:
    """Take keys off the lists in bounded batches; no keys is a no-op."""
    current = _list_segment(segment, cmd.key)
    included, excluded = clean_batch(cmd.included, cmd.excluded)
    return [
        SegmentMembersRemoved(
            stream_id=current.id, version=current.version + i, occurred_at=now, included=inc, excluded=exc
        )
        for i, (inc, exc) in enumerate(batches(included, excluded), start=1)
    ]


def replace_members(segment: Segment | None, cmd: ReplaceSegmentMembers, now: datetime) -> list[SegmentEvent]:
    """Clear both lists, then add the new members in bounded batches."""
    current = _list_segment(segment, cmd.key, cmd.expected_version)
    included, excluded = clean_batch(cmd.included, cmd.excluded)
    cleared = SegmentMembersCleared(stream_id=current.id, version=current.version + 1, occurred_at=now)
    added = [
        SegmentMembersAdded(
            stream_id=current.id, version=current.version + i, occurred_at=now, included=inc, excluded=exc
        )
        for i, (inc, exc) in enumerate(batches(included, excluded), start=2)
    ]
    return [cleared, *added]


def delete_segment(
    segment: Segment | None, cmd: DeleteSegment, now: datetime, *, referenced_by: frozenset[str] = frozenset()
) -> list[SegmentEvent]:
    """Delete; refused while flags or segments still refer to it (`referenced_by`, from the handler)."""
    current = _live(segment, cmd.key, cmd.expected_version)
    if referenced_by:
        raise SegmentInUse(f"segment {cmd.key!r} is used by: {', '.join(sorted(referenced_by))}")
    return [SegmentDeleted(stream_id=current.id, version=current.version + 1, occurred_at=now)]


def evolve(state: Segment | None, event: SegmentEvent) -> Segment:
    """Fold one fact; never refuses."""
    match event:
        case SegmentCreated(stream_id=id_, version=v, environment_id=env, key=key, kind=kind):
            return Segment(
                id=id_,
                version=v,
                environment_id=env,
                key=key,
                kind=kind,
                context_type=event.context_type,
                name=event.name,
                description=event.description,
                condition=event.condition,
            )
        case SegmentDetailsUpdated(version=v, name=name, description=description, context_type=context_type):
            assert state is not None
            return msgspec.structs.replace(
                state, version=v, name=name, description=description, context_type=context_type
            )
        case SegmentConditionReplaced(version=v, condition=condition):
            assert state is not None
            return msgspec.structs.replace(state, version=v, condition=condition)
        case (
            SegmentMembersAdded(version=v)
            | SegmentMembersRemoved(version=v)
            | SegmentMembersCleared(version=v)
        ):
            assert state is not None
            return msgspec.structs.replace(state, version=v, membership_batches=state.membership_batches + 1)
        case SegmentDeleted(version=v):
            assert state is not None
            return msgspec.structs.replace(state, version=v, deleted=True)


def replay(events: Iterable[SegmentEvent]) -> Segment | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)


def as_rule_segment(segment: Segment) -> RuleSegment | None:
    """The evaluation shape of a live rule segment, else None."""
    if segment.deleted or segment.condition is None:
        return None
    return RuleSegment(
        id=segment.id,
        key=segment.key,
        context_type=segment.context_type,
        condition=segment.condition,
        version=segment.version,
    )


def as_list_segment_meta(segment: Segment) -> ListSegmentMeta | None:
    """The sync shape of a live list segment, else None."""
    if segment.deleted or segment.kind is not SegmentKind.LIST:
        return None
    return ListSegmentMeta(
        id=segment.id, key=segment.key, context_type=segment.context_type, version=segment.version
    )
