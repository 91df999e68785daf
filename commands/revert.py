"""Revert a changeset: compensating commands for every stream it touched, unless a later change conflicts.

Each stream is set back to its state just before the changeset (its first position - 1) by the same
handlers the routes use, in one new changeset: flag configs first, then flag definitions, then segments
(so a rule naming a segment the changeset created is gone before the segment is deleted). A stream with
any event after the changeset's last one is a conflict (409 naming those changes); undoing a deletion or
a stream kind without a compensation here is refused the same way. The per-flag revert route is the
config compensation alone (`RestoreFlagConfig`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.bus import Context
from commands.encoding import decode_recorded
from commands.eventstore import RecordedEvent
from commands.flags import FlagLookups, change_config, change_definition, delete_config, delete_flag
from commands.kinds import FLAG, FLAG_CONFIG, SEGMENT
from commands.segments import (
    PatchSegmentDetails,
    SegmentLookups,
    change_segment,
    delete_segment,
    patch_details,
)
from domain.errors import FailedPrecondition, NotFound
from domain.events import Command, Event
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    ConfigureFlag,
    DeleteFlag,
    DeleteFlagConfig,
    RemoveVariant,
    RestoreFlag,
    UpdateFlagDetails,
    UpdateVariant,
)
from domain.segments import segment as seg
from domain.segments.commands import DeleteSegment, ReplaceSegmentCondition, ReplaceSegmentMembers
from domain.segments.events import (
    SegmentCreated,
    SegmentDeleted,
    SegmentMembersAdded,
    SegmentMembersCleared,
    SegmentMembersRemoved,
)

ORDER = {FLAG_CONFIG.name: 0, FLAG.name: 1, SEGMENT.name: 2}


class ChangesetNotFound(NotFound):
    """No changeset of that id was made in this environment."""


class ChangesetConflict(FailedPrecondition):
    """A later change touched a stream of the changeset (or it cannot be compensated)."""


class RevertChangeset(Command, frozen=True, kw_only=True, tag="changeset.revert"):
    changeset_id: UUID
    project_id: UUID
    environment_id: UUID


class RestoreFlagConfig(Command, frozen=True, kw_only=True, tag="flag_config.restore"):
    """The per-flag revert: this environment's config back to what it was at store `position` (the
    changeset revert's config step for one stream). Variants are project-level and stay."""

    project_id: UUID
    environment_id: UUID
    key: str
    position: int


async def restore_config(cmd: RestoreFlagConfig, ctx: Context) -> None:
    """Compensate the config stream to its state at `cmd.position` (FlagNotFound for no live flag)."""
    dfn.live_flag(await ctx.load(FLAG, dfn.flag_stream(cmd.project_id, cmd.key)), cmd.key)
    sid = cfg.flag_config_stream(cmd.environment_id, cmd.key)
    old = FLAG_CONFIG.replay(await ctx.history(sid, up_to_position=cmd.position))
    await _config(ctx, old, await ctx.load(FLAG_CONFIG, sid))


def _own(cmd: RevertChangeset, records: list[RecordedEvent]) -> list[RecordedEvent]:
    """The changeset's events if it was made through this environment's routes, else not found."""
    here = [r for r in records if r.metadata.environment_id == cmd.environment_id]
    if not here or any(r.metadata.project_id != cmd.project_id for r in records):
        raise ChangesetNotFound(f"changeset {cmd.changeset_id} not found")
    return records


async def _conflicts(ctx: Context, streams: dict[UUID, str], last: int) -> list[str]:
    later: list[str] = []
    for sid, kind in streams.items():
        for r in await ctx.store.load(sid):
            if r.position > last:
                later.append(f"{r.metadata.command_id} ({r.type} on {kind} at position {r.position})")
    return later


async def revert_changeset(
    cmd: RevertChangeset, ctx: Context, *, flags: FlagLookups, segments: SegmentLookups
) -> None:
    """Compensate every stream the changeset wrote; ChangesetConflict naming any later change."""
    records = _own(cmd, await ctx.store.load_command(cmd.changeset_id))
    first, last = records[0].position, records[-1].position
    streams = {r.stream_id: r.stream_type for r in records}
    later = await _conflicts(ctx, streams, last)
    if later:
        raise ChangesetConflict("later changes conflict with reverting this changeset: " + "; ".join(later))
    for sid, kind in sorted(streams.items(), key=lambda item: ORDER.get(item[1], 9)):
        before = await ctx.history(sid, up_to_position=first - 1)
        mine = [decode_recorded(r) for r in records if r.stream_id == sid]
        await _compensate(ctx, kind, sid, before, mine, flags=flags, segments=segments)


async def _compensate(
    ctx: Context, kind: str, sid: UUID, before: list[Event], mine: list[Event], *,
    flags: FlagLookups, segments: SegmentLookups,
) -> None:  # fmt: skip
    if kind == FLAG_CONFIG.name:
        await _config(ctx, FLAG_CONFIG.replay(before), await ctx.load(FLAG_CONFIG, sid))
    elif kind == FLAG.name:
        await _flag(ctx, FLAG.replay(before), await ctx.load(FLAG, sid), flags)
    elif kind == SEGMENT.name:
        await _segment(ctx, before, mine, await ctx.load(SEGMENT, sid), segments)
    else:
        raise ChangesetConflict(f"a {kind} change cannot be reverted")


def _live(state: object) -> bool:
    return state is not None and not getattr(state, "deleted", False)


async def _config(ctx: Context, old: cfg.FlagEnvConfig | None, now: cfg.FlagEnvConfig | None) -> None:
    """Back to the old config; a config absent then is dropped again (the SDKs see the default)."""
    if now is None:
        return
    ids: dict[str, Any] = {"command_id": ctx.command_id, "project_id": now.project_id,
                           "environment_id": now.environment_id, "key": now.key}  # fmt: skip
    if old is not None and not old.deleted:
        await change_config(ConfigureFlag(**ids, config=old.config), ctx)
    elif not now.deleted:
        await delete_config(DeleteFlagConfig(**ids), ctx)


async def _flag(ctx: Context, old: dfn.Flag | None, now: dfn.Flag | None, lookups: FlagLookups) -> None:
    if now is None or (not _live(old) and not _live(now)):
        return
    ref: dict[str, Any] = {"command_id": ctx.command_id, "project_id": now.project_id, "key": now.key}
    if not _live(old):
        await delete_flag(DeleteFlag(**ref), ctx, lookups=lookups)
        return
    assert old is not None
    if now.deleted:
        raise ChangesetConflict(f"the deletion of flag {now.key!r} cannot be reverted")
    steps: list[Command] = [RestoreFlag(**ref)] if now.archived and not old.archived else []
    if (old.name, old.description) != (now.name, now.description):
        steps.append(UpdateFlagDetails(**ref, name=old.name, description=old.description))
    steps += _variant_steps(old, now, ref)
    steps += [ArchiveFlag(**ref)] if old.archived and not now.archived else []
    for step in steps:
        await change_definition(step, ctx)  # type: ignore[arg-type]


def _variant_steps(old: dfn.Flag, now: dfn.Flag, ref: dict[str, Any]) -> list[Command]:
    was = {v.key: v for v in old.variants}
    has = {v.key: v for v in now.variants}
    steps: list[Command] = [AddVariant(**ref, variant=v) for k, v in was.items() if k not in has]
    steps += [UpdateVariant(**ref, variant=v) for k, v in was.items() if k in has and has[k] != v]
    steps += [RemoveVariant(**ref, variant_key=k) for k in has if k not in was]
    return steps


def members_of(events: list[Event]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A list segment's included and excluded keys after `events` (none once deleted)."""
    inc: set[str] = set()
    exc: set[str] = set()
    for e in events:
        match e:
            case SegmentCreated() | SegmentMembersCleared() | SegmentDeleted():
                inc, exc = set(), set()
            case SegmentMembersAdded(included=i, excluded=x):
                inc, exc = inc | set(i), exc | set(x)
            case SegmentMembersRemoved(included=i, excluded=x):
                inc, exc = inc - set(i), exc - set(x)
    return tuple(sorted(inc)), tuple(sorted(exc))


async def _segment(
    ctx: Context, before: list[Event], mine: list[Event], now: seg.Segment | None, lookups: SegmentLookups
) -> None:
    old: seg.Segment | None = SEGMENT.replay(before)
    if now is None or (not _live(old) and not _live(now)):
        return
    ref: dict[str, Any] = {"command_id": ctx.command_id, "environment_id": now.environment_id, "key": now.key}
    if not _live(old):
        await delete_segment(DeleteSegment(**ref), ctx, lookups=lookups)
        return
    assert old is not None
    if now.deleted:
        raise ChangesetConflict(f"the deletion of segment {now.key!r} cannot be reverted")
    if (old.name, old.description, old.context_type) != (now.name, now.description, now.context_type):
        await patch_details(PatchSegmentDetails(**ref, name=old.name, description=old.description,
                                                context_type=old.context_type), ctx)  # fmt: skip
    if old.condition is not None and old.condition != now.condition:
        await change_segment(ReplaceSegmentCondition(**ref, condition=old.condition), ctx, lookups=lookups)
    if any(isinstance(e, SegmentMembersAdded | SegmentMembersRemoved | SegmentMembersCleared) for e in mine):
        inc, exc = members_of(before)
        await change_segment(ReplaceSegmentMembers(**ref, included=inc, excluded=exc), ctx, lookups=lookups)
