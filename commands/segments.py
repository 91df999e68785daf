"""Segment handlers for the bus (stream `stream_id("segment", environment_id, key)`).

Cross-aggregate facts come from the read side through injected lookups, overlaid with what this
changeset has done so far: the environment's segment graph (unknown references and cycles are refused)
and who references a segment (deletion is refused).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from uuid import UUID

import msgspec

from commands.bus import Context, Handler
from commands.eventstore import Usage
from commands.kinds import FLAG_CONFIG, SEGMENT
from domain.errors import SegmentNotFound, check_version
from domain.events import Command
from domain.flags.validation import segment_refs
from domain.quotas import DEFAULT_QUOTAS, Counted, Quotas, exceeded
from domain.segments import segment as seg
from domain.segments.events import (
    AddSegmentMembers,
    CreateSegment,
    DeleteSegment,
    RemoveSegmentMembers,
    ReplaceSegmentCondition,
    ReplaceSegmentMembers,
    SegmentEvent,
    UpdateSegment,
)

SegmentGraphLookup = Callable[[UUID], Awaitable[Mapping[str, frozenset[str]]]]  # env -> key -> refs
ReferencedBy = Callable[[UUID, str], Awaitable[frozenset[str]]]  # env, key -> "flag:x" / "segment:y"
MemberCount = Callable[[UUID, str], Awaitable[int]]  # env, key -> entries in the read model
STREAM_TYPE = SEGMENT.name

SegmentChange = (
    UpdateSegment | ReplaceSegmentCondition | AddSegmentMembers | RemoveSegmentMembers | ReplaceSegmentMembers
)


class PatchSegmentDetails(Command, frozen=True, kw_only=True, tag="segment.patch_details"):
    """Change some of name, description and context type (None keeps the current value)."""

    environment_id: UUID
    key: str
    name: str | None = None
    description: str | None = None
    context_type: str | None = None
    expected_version: int | None = None


class ExpectSegment(Command, frozen=True, kw_only=True, tag="segment.expect"):
    """A changeset step: the segment is live and at `expected_version` (None: any)."""

    environment_id: UUID
    key: str
    expected_version: int | None = None


async def expect_segment(cmd: ExpectSegment, ctx: Context) -> None:
    """SegmentNotFound when missing or deleted, ABORTED when not at the expected version."""
    state = await load_segment(ctx, cmd.environment_id, cmd.key)
    if state is None or state.deleted:
        raise SegmentNotFound(f"segment {cmd.key!r} not found")
    check_version(state.version, cmd.expected_version)


class SegmentLookups(msgspec.Struct, frozen=True, kw_only=True):
    segment_graph: SegmentGraphLookup
    referenced_by: ReferencedBy
    member_count: MemberCount | None = None  # None: members per segment are not limited
    quotas: Quotas = DEFAULT_QUOTAS


async def load_segment(ctx: Context, environment_id: UUID, key: str) -> seg.Segment | None:
    """The segment as this changeset leaves it so far (None for an empty stream)."""
    state: seg.Segment | None = await ctx.load(SEGMENT, seg.segment_stream(environment_id, key))
    return state


async def _graph(ctx: Context, lookups: SegmentLookups, environment_id: UUID) -> dict[str, frozenset[str]]:
    """The read model's graph with this changeset's segments as it leaves them."""
    graph = dict(await lookups.segment_graph(environment_id))
    for s in ctx.loaded(SEGMENT):
        if s is not None and s.environment_id == environment_id:
            if s.deleted:
                graph.pop(s.key, None)
            else:
                graph[s.key] = segment_refs(s.condition) if s.condition is not None else frozenset()
    return graph


async def _referenced_by(
    ctx: Context, lookups: SegmentLookups, environment_id: UUID, key: str
) -> frozenset[str]:
    """Who references the segment, with the flag configs and segments this changeset changed."""
    users = set(await lookups.referenced_by(environment_id, key))
    for c in ctx.loaded(FLAG_CONFIG):
        if c is not None and c.environment_id == environment_id:
            uses = not c.deleted and any(key in segment_refs(r.condition) for r in c.config.rules)
            (users.add if uses else users.discard)(f"flag:{c.key}")
    for s in ctx.loaded(SEGMENT):
        if s is not None and s.environment_id == environment_id and s.key != key:
            uses = not s.deleted and s.condition is not None and key in segment_refs(s.condition)
            (users.add if uses else users.discard)(f"segment:{s.key}")
    return frozenset(users)


async def check_member_quota(
    cmd: SegmentChange | CreateSegment, ctx: Context, lookups: SegmentLookups
) -> None:
    """Members per list segment: what the batch leaves (for an add, on top of the read model's count,
    which may lag the last writes) against the quota."""
    if lookups.member_count is None or not isinstance(
        cmd, AddSegmentMembers | ReplaceSegmentMembers | CreateSegment
    ):
        return
    limit, adding = lookups.quotas.members_per_segment, len(cmd.included) + len(cmd.excluded)
    held = (
        await lookups.member_count(cmd.environment_id, cmd.key) if isinstance(cmd, AddSegmentMembers) else 0
    )
    if adding and held + adding > limit:
        raise exceeded("members (included and excluded keys)", limit, "list segment")


def _stream(cmd: Command) -> UUID:
    return seg.segment_stream(cmd.environment_id, cmd.key)  # type: ignore[attr-defined]


async def create_segment(cmd: CreateSegment, ctx: Context, *, lookups: SegmentLookups) -> None:
    """A new rule or list segment (counted against the organisation's segment quota)."""
    state = await load_segment(ctx, cmd.environment_id, cmd.key)
    graph = await _graph(ctx, lookups, cmd.environment_id) if cmd.condition is not None else {}
    await check_member_quota(cmd, ctx, lookups)
    org = ctx.scope.metadata(ctx.command_id).org_id
    usage = () if org is None else (Usage(org_id=org, counted=Counted.SEGMENTS, delta=1,
                                          limit=lookups.quotas.segments_per_org),)  # fmt: skip
    events = seg.create_segment(state, cmd, ctx.now, segment_graph=graph)
    ctx.emit(_stream(cmd), events, usage=usage)


async def patch_details(cmd: PatchSegmentDetails, ctx: Context) -> None:
    """UpdateSegment with the omitted fields taken from the segment as the changeset finds it."""
    state = await load_segment(ctx, cmd.environment_id, cmd.key)
    live = state if state is not None and not state.deleted else None
    update = UpdateSegment(
        command_id=cmd.command_id, environment_id=cmd.environment_id, key=cmd.key,
        name=cmd.name if cmd.name is not None else (live.name if live else ""),
        description=cmd.description if cmd.description is not None else (live.description if live else ""),
        context_type=cmd.context_type or (live.context_type if live else ""),
        expected_version=cmd.expected_version,
    )  # fmt: skip
    ctx.emit(_stream(cmd), seg.update_segment(state, update, ctx.now))


async def change_segment(cmd: SegmentChange, ctx: Context, *, lookups: SegmentLookups) -> None:
    """Details, condition or membership changes."""
    state = await load_segment(ctx, cmd.environment_id, cmd.key)
    events: list[SegmentEvent]
    match cmd:
        case UpdateSegment():
            events = seg.update_segment(state, cmd, ctx.now)
        case ReplaceSegmentCondition():
            graph = await _graph(ctx, lookups, cmd.environment_id)
            events = seg.replace_condition(state, cmd, ctx.now, segment_graph=graph)
        case AddSegmentMembers():
            await check_member_quota(cmd, ctx, lookups)
            events = seg.add_members(state, cmd, ctx.now)
        case RemoveSegmentMembers():
            events = seg.remove_members(state, cmd, ctx.now)
        case ReplaceSegmentMembers():
            await check_member_quota(cmd, ctx, lookups)
            events = seg.replace_members(state, cmd, ctx.now)
    ctx.emit(_stream(cmd), events)


async def delete_segment(cmd: DeleteSegment, ctx: Context, *, lookups: SegmentLookups) -> None:
    """Delete; refused (SegmentInUse) while a flag rule or another segment references it."""
    state = await load_segment(ctx, cmd.environment_id, cmd.key)
    users = await _referenced_by(ctx, lookups, cmd.environment_id, cmd.key)
    org = ctx.scope.metadata(ctx.command_id).org_id
    usage = () if org is None else (Usage(org_id=org, counted=Counted.SEGMENTS, delta=-1),)
    ctx.emit(_stream(cmd), seg.delete_segment(state, cmd, ctx.now, referenced_by=users), usage=usage)


def segment_handlers(lookups: SegmentLookups) -> dict[type[Command], Handler]:
    """The segment rows of the bus's handler table."""
    changes: list[type[Command]] = [UpdateSegment, ReplaceSegmentCondition, AddSegmentMembers,
                                    RemoveSegmentMembers, ReplaceSegmentMembers]  # fmt: skip
    return {
        CreateSegment: functools.partial(create_segment, lookups=lookups),
        DeleteSegment: functools.partial(delete_segment, lookups=lookups),
        PatchSegmentDetails: patch_details,
        ExpectSegment: expect_segment,
        **dict.fromkeys(changes, functools.partial(change_segment, lookups=lookups)),
    }
