"""Flag handlers for the bus: the project-level definition stream and each environment's config stream.

An environment route's `version` is the config stream's version (0 while the environment has none),
checked by `ExpectFlagConfig`, which also loads both streams so the answer can be shaped from the
outcome. Rules may name only segments live in the environment, as this changeset leaves them (a segment
created earlier in the same changeset counts).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

import msgspec

from commands.bus import Context, Handler
from commands.eventstore import Usage
from commands.kinds import FLAG, FLAG_CONFIG, SEGMENT
from domain.errors import FlagNotFound, check_version
from domain.events import Command
from domain.flags import config as cfg
from domain.flags import definition as dfn
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    ConfigureFlag,
    CreateFlag,
    DeleteFlag,
    DeleteFlagConfig,
    RemoveVariant,
    ReplaceFlagRules,
    RestoreFlag,
    SetFallthrough,
    SetFlagEnabled,
    SetFlagHashing,
    SetOffVariant,
    UpdateFlagDetails,
    UpdateVariant,
)
from domain.flags.model import Rule
from domain.flags.validation import segment_refs
from domain.quotas import DEFAULT_QUOTAS, Counted, Quotas
from domain.segments import segment as seg

ConfiguredEnvironments = Callable[[UUID, str], Awaitable[list[UUID]]]  # project, key -> env ids

ConfigChange = (
    ConfigureFlag | SetFlagEnabled | SetOffVariant | ReplaceFlagRules | SetFallthrough | SetFlagHashing
)
DefinitionChange = UpdateFlagDetails | AddVariant | UpdateVariant | RemoveVariant | ArchiveFlag | RestoreFlag


class ExpectFlagConfig(Command, frozen=True, kw_only=True, tag="flag_config.expect"):
    """A changeset step: the flag exists and its config here is at `expected_version` (None: any)."""

    project_id: UUID
    environment_id: UUID
    key: str
    expected_version: int | None = None


class PatchFlagDetails(Command, frozen=True, kw_only=True, tag="flag.patch_details"):
    """Change name and/or description (None keeps the current value)."""

    project_id: UUID
    key: str
    name: str | None = None
    description: str | None = None
    expected_version: int | None = None


async def patch_details(cmd: PatchFlagDetails, ctx: Context) -> None:
    """UpdateFlagDetails with the omitted fields taken from the flag as the changeset finds it."""
    flag = await load_flag(ctx, cmd.project_id, cmd.key)
    live = dfn.live_flag(flag, cmd.key)
    update = UpdateFlagDetails(
        command_id=cmd.command_id, project_id=cmd.project_id, key=cmd.key,
        name=live.name if cmd.name is None else cmd.name,
        description=live.description if cmd.description is None else cmd.description,
        expected_version=cmd.expected_version,
    )  # fmt: skip
    ctx.emit(dfn.flag_stream(cmd.project_id, cmd.key), dfn.update_flag_details(flag, update, ctx.now))


class FlagLookups(msgspec.Struct, frozen=True, kw_only=True):
    """Read-side facts the flag handlers need besides the streams."""

    configured_environments: ConfiguredEnvironments | None = None
    quotas: Quotas = DEFAULT_QUOTAS


async def load_flag(ctx: Context, project_id: UUID, key: str) -> dfn.Flag | None:
    """The project-level flag as this changeset leaves it so far."""
    flag: dfn.Flag | None = await ctx.load(FLAG, dfn.flag_stream(project_id, key))
    return flag


async def load_config(ctx: Context, environment_id: UUID, key: str) -> cfg.FlagEnvConfig | None:
    """The environment's config as this changeset leaves it so far."""
    state: cfg.FlagEnvConfig | None = await ctx.load(FLAG_CONFIG, cfg.flag_config_stream(environment_id, key))
    return state


async def live_segments(ctx: Context, environment_id: UUID, rules: Iterable[Rule]) -> frozenset[str]:
    """The segments the rules name that are live here (read from their streams, as this changeset
    leaves them)."""
    live: set[str] = set()
    for key in sorted(frozenset().union(*(segment_refs(r.condition) for r in rules))):
        state: seg.Segment | None = await ctx.load(SEGMENT, seg.segment_stream(environment_id, key))
        if state is not None and not state.deleted:
            live.add(key)
    return frozenset(live)


async def expect_config(cmd: ExpectFlagConfig, ctx: Context) -> None:
    """NOT_FOUND for a flag the project does not have (whatever version was guessed), else ABORTED
    unless the config stream is at the expected version."""
    flag = await load_flag(ctx, cmd.project_id, cmd.key)
    state = await load_config(ctx, cmd.environment_id, cmd.key)
    if flag is None or (flag.deleted and state is None):
        raise FlagNotFound(f"flag {cmd.key!r} not found")
    check_version(0 if state is None else state.version, cmd.expected_version)


async def create_flag(cmd: CreateFlag, ctx: Context, *, lookups: FlagLookups) -> None:
    """A new project-level flag (counted against the organisation's flag quota)."""
    flag = await load_flag(ctx, cmd.project_id, cmd.key)
    org = ctx.scope.metadata(ctx.command_id).org_id
    usage = () if org is None else (Usage(org_id=org, counted=Counted.FLAGS, delta=1,
                                          limit=lookups.quotas.flags_per_org),)  # fmt: skip
    ctx.emit(dfn.flag_stream(cmd.project_id, cmd.key), dfn.create_flag(flag, cmd, ctx.now), usage=usage)


class ToggleFlag(Command, frozen=True, kw_only=True, tag="flag_config.toggle"):
    """The kill switch without a value: flip `enabled` as the changeset finds it."""

    project_id: UUID
    environment_id: UUID
    key: str
    expected_version: int | None = None


async def change_config(cmd: ConfigChange | ToggleFlag, ctx: Context) -> None:
    """Any config change but deletion; only what changed is recorded."""
    flag = await load_flag(ctx, cmd.project_id, cmd.key)
    state = await load_config(ctx, cmd.environment_id, cmd.key)
    live = state is not None and not state.deleted
    if isinstance(cmd, ToggleFlag):
        on = state.config.enabled if state is not None and live else False
        cmd = SetFlagEnabled(command_id=cmd.command_id, project_id=cmd.project_id, key=cmd.key,
                             environment_id=cmd.environment_id, enabled=not on,
                             expected_version=cmd.expected_version)  # fmt: skip
    rules = [*(cmd.config.rules if isinstance(cmd, ConfigureFlag) else ()),
             *(cmd.rules if isinstance(cmd, ReplaceFlagRules) else ()),
             *(state.config.rules if state is not None and live else ())]  # fmt: skip
    segments = await live_segments(ctx, cmd.environment_id, rules)
    events = cfg.change_config(state, cmd, ctx.now, flag=flag, segment_keys=segments)
    ctx.emit(cfg.flag_config_stream(cmd.environment_id, cmd.key), events)


async def delete_config(cmd: DeleteFlagConfig, ctx: Context) -> None:
    """Drop one environment's config (no-op when absent)."""
    state = await load_config(ctx, cmd.environment_id, cmd.key)
    ctx.emit(cfg.flag_config_stream(cmd.environment_id, cmd.key), cfg.delete_flag_config(state, cmd, ctx.now))


async def change_definition(cmd: DefinitionChange, ctx: Context) -> None:
    """A project-level change: details, variants, archive and restore."""
    flag = await load_flag(ctx, cmd.project_id, cmd.key)
    match cmd:
        case UpdateFlagDetails():
            events = dfn.update_flag_details(flag, cmd, ctx.now)
        case AddVariant():
            events = dfn.add_variant(flag, cmd, ctx.now)
        case UpdateVariant():
            events = dfn.update_variant(flag, cmd, ctx.now)
        case RemoveVariant():
            events = dfn.remove_variant(flag, cmd, ctx.now)
        case ArchiveFlag():
            events = dfn.archive_flag(flag, cmd, ctx.now)
        case RestoreFlag():
            events = dfn.restore_flag(flag, cmd, ctx.now)
    ctx.emit(dfn.flag_stream(cmd.project_id, cmd.key), events)


async def delete_flag(cmd: DeleteFlag, ctx: Context, *, lookups: FlagLookups) -> None:
    """Delete the flag and every environment configuration of it, in one changeset (the key is free)."""
    flag = await load_flag(ctx, cmd.project_id, cmd.key)
    org = ctx.scope.metadata(ctx.command_id).org_id
    usage = () if org is None else (Usage(org_id=org, counted=Counted.FLAGS, delta=-1),)
    ctx.emit(dfn.flag_stream(cmd.project_id, cmd.key), dfn.delete_flag(flag, cmd, ctx.now), usage=usage)
    lookup = lookups.configured_environments
    others = await lookup(cmd.project_id, cmd.key) if lookup is not None else []
    here = ctx.scope.metadata(ctx.command_id)
    for environment_id in sorted({*([here.environment_id] if here.environment_id else []), *others}):
        drop = DeleteFlagConfig(command_id=cmd.command_id, project_id=cmd.project_id,
                                environment_id=environment_id, key=cmd.key)  # fmt: skip
        state = await load_config(ctx, environment_id, cmd.key)
        meta = msgspec.structs.replace(here, environment_id=environment_id)
        events = cfg.delete_flag_config(state, drop, ctx.now)
        ctx.emit(cfg.flag_config_stream(environment_id, cmd.key), events, metadata=meta)


class RestoreFlagConfig(Command, frozen=True, kw_only=True, tag="flag_config.restore"):
    """Set the environment's config back to what it was at store `position` (compensating events; a
    config absent then is restored as the implicit default). Variants are project-level and stay."""

    project_id: UUID
    environment_id: UUID
    key: str
    position: int
    expected_version: int | None = None


async def restore_config(cmd: RestoreFlagConfig, ctx: Context) -> None:
    """Decide a ConfigureFlag to the old config against the current state."""
    stream = cfg.flag_config_stream(cmd.environment_id, cmd.key)
    old = cfg.replay(await ctx.history(stream, up_to_position=cmd.position))  # type: ignore[arg-type]
    flag = dfn.live_flag(await load_flag(ctx, cmd.project_id, cmd.key), cmd.key)
    target = old.config if old is not None and not old.deleted else cfg.default_config(flag)
    configure = ConfigureFlag(command_id=cmd.command_id, project_id=cmd.project_id,
                              environment_id=cmd.environment_id, key=cmd.key, config=target,
                              expected_version=cmd.expected_version)  # fmt: skip
    await change_config(configure, ctx)


def flag_handlers(lookups: FlagLookups) -> dict[type[Command], Handler]:
    """The flag rows of the bus's handler table."""
    configs: list[type[Command]] = [ConfigureFlag, SetFlagEnabled, SetOffVariant, ReplaceFlagRules,
                                    SetFallthrough, SetFlagHashing, ToggleFlag]  # fmt: skip
    definitions: list[type[Command]] = [UpdateFlagDetails, AddVariant, UpdateVariant, RemoveVariant,
                                        ArchiveFlag, RestoreFlag]  # fmt: skip
    return {
        CreateFlag: functools.partial(create_flag, lookups=lookups),
        DeleteFlag: functools.partial(delete_flag, lookups=lookups),
        DeleteFlagConfig: delete_config,
        ExpectFlagConfig: expect_config,
        PatchFlagDetails: patch_details,
        RestoreFlagConfig: restore_config,
        **dict.fromkeys(configs, change_config),
        **dict.fromkeys(definitions, change_definition),
    }
