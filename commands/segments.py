"""Segment handlers (stream `stream_id("segment", environment_id, key)`).

Cross-aggregate facts come from the read side through injected lookups: the environment's segment graph
(unknown references and cycles are refused) and who references a segment (deletion is refused).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from uuid import UUID

import msgspec

from commands.eventstore import EventStore, Usage
from commands.streams import Clock, Scope, Written, decide_and_append, load_state
from domain.quotas import DEFAULT_QUOTAS, Counted, Quotas, exceeded
from domain.segments import segment as seg
from domain.segments.commands import (
    AddSegmentMembers,
    CreateSegment,
    DeleteSegment,
    RemoveSegmentMembers,
    ReplaceSegmentCondition,
    ReplaceSegmentMembers,
    UpdateSegment,
)
from domain.segments.events import SegmentEvent

SegmentGraphLookup = Callable[[UUID], Awaitable[Mapping[str, frozenset[str]]]]  # env -> key -> refs
ReferencedBy = Callable[[UUID, str], Awaitable[frozenset[str]]]  # env, key -> "flag:x" / "segment:y"
MemberCount = Callable[[UUID, str], Awaitable[int]]  # env, key -> entries in the read model
STREAM_TYPE = "segment"

SegmentChange = (
    UpdateSegment | ReplaceSegmentCondition | AddSegmentMembers | RemoveSegmentMembers | ReplaceSegmentMembers
)


class SegmentDeps(msgspec.Struct, frozen=True, kw_only=True):
    store: EventStore
    clock: Clock
    segment_graph: SegmentGraphLookup
    referenced_by: ReferencedBy
    member_count: MemberCount | None = None  # None: members per segment are not limited
    quotas: Quotas = DEFAULT_QUOTAS


async def load_segment(store: EventStore, environment_id: UUID, key: str) -> seg.Segment | None:
    """The segment's folded state (None for an empty stream)."""
    state, _ = await load_state(store, seg.segment_stream(environment_id, key), seg.replay)
    return state


async def _run(
    deps: SegmentDeps,
    scope: Scope,
    environment_id: UUID,
    key: str,
    command_id: UUID,
    decide: Callable[[seg.Segment | None], list[SegmentEvent]],
    usage: Sequence[Usage] = (),
) -> Written:
    _, written = await decide_and_append(
        deps.store,
        seg.segment_stream(environment_id, key),
        STREAM_TYPE,
        seg.replay,
        decide,
        command_id=command_id,
        metadata=scope.metadata(command_id),
        usage=usage,
    )
    return written


async def check_member_quota(cmd: SegmentChange | CreateSegment, deps: SegmentDeps) -> None:
    """Members per list segment: what the batch leaves (for an add, on top of the read model's count,
    which may lag the last writes) against the quota; a route running several commands checks first."""
    if deps.member_count is None or not isinstance(
        cmd, AddSegmentMembers | ReplaceSegmentMembers | CreateSegment
    ):
        return
    limit, adding = deps.quotas.members_per_segment, len(cmd.included) + len(cmd.excluded)
    held = await deps.member_count(cmd.environment_id, cmd.key) if isinstance(cmd, AddSegmentMembers) else 0
    if adding and held + adding > limit:
        raise exceeded("members (included and excluded keys)", limit, "list segment")


async def create_segment(cmd: CreateSegment, scope: Scope, deps: SegmentDeps) -> Written:
    """A new rule or list segment."""
    graph = await deps.segment_graph(cmd.environment_id) if cmd.condition is not None else {}
    await check_member_quota(cmd, deps)
    now = deps.clock()
    usage = [
        Usage(org_id=scope.org_id, counted=Counted.SEGMENTS, delta=1, limit=deps.quotas.segments_per_org)
    ]
    return await _run(
        deps, scope, cmd.environment_id, cmd.key, cmd.command_id,
        lambda s: seg.create_segment(s, cmd, now, segment_graph=graph), usage,
    )  # fmt: skip


async def change_segment(cmd: SegmentChange, scope: Scope, deps: SegmentDeps) -> Written:
    """Details, condition or membership changes."""
    now = deps.clock()
    decide: Callable[[seg.Segment | None], list[SegmentEvent]]
    match cmd:
        case UpdateSegment():
            decide = lambda s: seg.update_segment(s, cmd, now)  # noqa: E731
        case ReplaceSegmentCondition():
            graph = await deps.segment_graph(cmd.environment_id)
            decide = lambda s: seg.replace_condition(s, cmd, now, segment_graph=graph)  # noqa: E731
        case AddSegmentMembers():
            await check_member_quota(cmd, deps)
            decide = lambda s: seg.add_members(s, cmd, now)  # noqa: E731
        case RemoveSegmentMembers():
            decide = lambda s: seg.remove_members(s, cmd, now)  # noqa: E731
        case ReplaceSegmentMembers():
            await check_member_quota(cmd, deps)
            decide = lambda s: seg.replace_members(s, cmd, now)  # noqa: E731
    return await _run(deps, scope, cmd.environment_id, cmd.key, cmd.command_id, decide)


async def delete_segment(cmd: DeleteSegment, scope: Scope, deps: SegmentDeps) -> Written:
    """Delete; refused (SegmentInUse) while a flag rule or another segment references it."""
    users = await deps.referenced_by(cmd.environment_id, cmd.key)
    now = deps.clock()
    return await _run(
        deps, scope, cmd.environment_id, cmd.key, cmd.command_id,
        lambda s: seg.delete_segment(s, cmd, now, referenced_by=users),
        [Usage(org_id=scope.org_id, counted=Counted.SEGMENTS, delta=-1)],
    )  # fmt: skip
