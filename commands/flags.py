"""Flag handlers: the project-level definition stream and each environment's config stream.

An environment route's `version` is the config stream's version (0 while the environment has none);
project-level changes made from an environment route check it too, then append to the definition stream
at its own current version. Rules may name only segments that exist in the environment (`SegmentKeys`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import msgspec

from commands.encoding import decode_recorded
from commands.eventstore import EventStore, Usage
from commands.streams import Clock, Scope, Written, decide_and_append, load_state, sub_command_id
from domain.errors import FlagNotFound, check_version
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    ConfigureFlag,
    CreateFlag,
    DeleteFlag,
    DeleteFlagConfig,
    RestoreFlag,
    UpdateFlagDetails,
)
from domain.flags.events import FlagEvent
from domain.flags.model import FlagConfig, FlagDefinition, Serve
from domain.flags.validation import check_config, check_variants, segment_refs
from domain.quotas import DEFAULT_QUOTAS, Counted, Quotas

SegmentKeys = Callable[[UUID, frozenset[str]], Awaitable[frozenset[str]]]  # env, wanted -> existing
ConfiguredEnvironments = Callable[[UUID, str], Awaitable[list[UUID]]]  # project, key -> env ids
ConfigPatch = Callable[[FlagConfig], FlagConfig]
DEFINITION, CONFIG = "flag", "flag_config"


class FlagDeps(msgspec.Struct, frozen=True, kw_only=True):
    """What flag handlers need besides the command: the store, a clock and two read-side lookups."""

    store: EventStore
    clock: Clock
    segment_keys: SegmentKeys
    configured_environments: ConfiguredEnvironments | None = None
    quotas: Quotas = DEFAULT_QUOTAS


async def load_flag(store: EventStore, project_id: UUID, key: str) -> dfn.Flag | None:
    """The project-level flag state (None when the stream is empty)."""
    flag, _ = await load_state(store, dfn.flag_stream(project_id, key), dfn.replay)
    return flag


async def load_config(store: EventStore, environment_id: UUID, key: str) -> cfg.FlagEnvConfig | None:
    """The environment's config state (None when the environment never configured the flag)."""
    state, _ = await load_state(store, cfg.flag_config_stream(environment_id, key), cfg.replay)
    return state


async def current_definition(store: EventStore, scope: Scope, key: str) -> FlagDefinition:
    """What evaluation sees for the flag in the scope's environment (FlagNotFound when absent)."""
    flag = dfn.live_flag(await load_flag(store, scope.project_id, key), key)
    return cfg.definition_of(flag, await load_config(store, scope.environment_id, key), scope.environment_id)


async def _known_segments(deps: FlagDeps, scope: Scope, config: FlagConfig) -> frozenset[str]:
    wanted = frozenset().union(*(segment_refs(r.condition) for r in config.rules))
    return await deps.segment_keys(scope.environment_id, wanted) if wanted else frozenset()


async def configure(cmd: ConfigureFlag, scope: Scope, deps: FlagDeps) -> Written:
    """Set the environment's whole config; only what changed is recorded."""
    flag = await load_flag(deps.store, cmd.project_id, cmd.key)
    segments = await _known_segments(deps, scope, cmd.config)
    _, written = await decide_and_append(
        deps.store,
        cfg.flag_config_stream(cmd.environment_id, cmd.key),
        CONFIG,
        cfg.replay,
        lambda s: cfg.change_config(s, cmd, deps.clock(), flag=flag, segment_keys=segments),
        command_id=cmd.command_id,
        metadata=scope.metadata(cmd.command_id),
    )
    return written


async def patch_config(
    scope: Scope,
    key: str,
    patch: ConfigPatch,
    *,
    expected_version: int | None,
    command_id: UUID,
    deps: FlagDeps,
) -> Written:
    """Change part of the config: `patch` maps the current (or implicit default) config to the target."""
    flag = dfn.live_flag(await load_flag(deps.store, scope.project_id, key), key)
    state = await load_config(deps.store, scope.environment_id, key)
    current = state.config if state is not None and not state.deleted else cfg.default_config(flag)
    cmd = ConfigureFlag(
        command_id=command_id,
        project_id=scope.project_id,
        environment_id=scope.environment_id,
        key=key,
        config=patch(current),
        expected_version=expected_version,
    )
    return await configure(cmd, scope, deps)


async def create_flag(create: CreateFlag, config: ConfigPatch, scope: Scope, deps: FlagDeps) -> Written:
    """Create the project-level flag, then its config in the scope's environment (`config` patches the
    default config). The config is checked before anything is appended, so a refused config leaves no
    half-created flag. A repeated command id repeats both steps without appending again."""
    await _precheck(create, config, scope, deps)
    _, first = await decide_and_append(
        deps.store,
        dfn.flag_stream(create.project_id, create.key),
        DEFINITION,
        dfn.replay,
        lambda s: dfn.create_flag(s, create, deps.clock()),
        command_id=create.command_id,
        metadata=scope.metadata(create.command_id),
        usage=[Usage(org_id=scope.org_id, counted=Counted.FLAGS, delta=1, limit=deps.quotas.flags_per_org)],
    )
    second = await patch_config(
        scope, create.key, config, expected_version=None,
        command_id=sub_command_id(create.command_id, "config"), deps=deps,
    )  # fmt: skip
    return msgspec.structs.replace(second, position=max(first.position, second.position))


async def _precheck(create: CreateFlag, config: ConfigPatch, scope: Scope, deps: FlagDeps) -> None:
    check_variants(create.value_type, create.variants)
    first = create.variants[0].key
    target = config(FlagConfig(enabled=False, off_variant=first, fallthrough=Serve(variant_key=first)))
    variant_keys = frozenset(v.key for v in create.variants)
    check_config(target, variant_keys, await _known_segments(deps, scope, target))


async def revert_config(
    scope: Scope, key: str, position: int, *, expected_version: int | None, command_id: UUID, deps: FlagDeps
) -> Written:
    """Restore the environment's config as it was at store `position`, by compensating events (a config
    absent then is restored as the implicit default). Variants are project-level and stay as they are."""
    records = await deps.store.load(
        cfg.flag_config_stream(scope.environment_id, key), up_to_position=position
    )
    old = cfg.replay(decode_recorded(r) for r in records)  # type: ignore[misc]
    flag = dfn.live_flag(await load_flag(deps.store, scope.project_id, key), key)
    target = old.config if old is not None and not old.deleted else cfg.default_config(flag)
    return await patch_config(
        scope, key, lambda _: target, expected_version=expected_version, command_id=command_id, deps=deps
    )


async def check_config_version(store: EventStore, scope: Scope, key: str, expected: int | None) -> None:
    """ABORTED unless the environment's config stream is at `expected` (None skips the check).

    A flag the project does not have is NOT_FOUND whatever version was guessed (not ABORTED).
    """
    if expected is not None:
        stream = cfg.flag_config_stream(scope.environment_id, key)
        state, version = await load_state(store, stream, cfg.replay)
        if state is None and await load_flag(store, scope.project_id, key) is None:
            raise FlagNotFound(f"flag {key!r} not found")
        check_version(version, expected)


FlagDefinitionCommand = UpdateFlagDetails | AddVariant | ArchiveFlag | RestoreFlag | DeleteFlag


def _decider(cmd: FlagDefinitionCommand, deps: FlagDeps) -> Callable[[dfn.Flag | None], list[FlagEvent]]:
    now = deps.clock()
    match cmd:
        case UpdateFlagDetails():
            return lambda s: dfn.update_flag_details(s, cmd, now)
        case AddVariant():
            return lambda s: dfn.add_variant(s, cmd, now)
        case ArchiveFlag():
            return lambda s: dfn.archive_flag(s, cmd, now)
        case RestoreFlag():
            return lambda s: dfn.restore_flag(s, cmd, now)
        case DeleteFlag():
            return lambda s: dfn.delete_flag(s, cmd, now)


async def change_definition(
    cmd: FlagDefinitionCommand, scope: Scope, deps: FlagDeps, *, config_version: int | None = None
) -> Written:
    """A project-level change from an environment route (its config version checked when given)."""
    await check_config_version(deps.store, scope, cmd.key, config_version)
    _, written = await decide_and_append(
        deps.store,
        dfn.flag_stream(cmd.project_id, cmd.key),
        DEFINITION,
        dfn.replay,
        _decider(cmd, deps),
        command_id=cmd.command_id,
        metadata=scope.metadata(cmd.command_id),
        usage=[Usage(org_id=scope.org_id, counted=Counted.FLAGS, delta=-1)]
        if isinstance(cmd, DeleteFlag)
        else (),
    )
    return written


async def delete_flag(
    cmd: DeleteFlag, scope: Scope, deps: FlagDeps, *, config_version: int | None
) -> Written:
    """Delete the flag and every environment configuration of it (the key is free again)."""
    written = await change_definition(cmd, scope, deps, config_version=config_version)
    lookup = deps.configured_environments
    environments = await lookup(cmd.project_id, cmd.key) if lookup is not None else []
    position = written.position
    for environment_id in {scope.environment_id, *environments}:
        drop = DeleteFlagConfig(
            command_id=sub_command_id(cmd.command_id, f"config:{environment_id}"),
            project_id=cmd.project_id,
            environment_id=environment_id,
            key=cmd.key,
        )
        env_scope = msgspec.structs.replace(scope, environment_id=environment_id)
        _, done = await decide_and_append(
            deps.store,
            cfg.flag_config_stream(environment_id, cmd.key),
            CONFIG,
            cfg.replay,
            lambda s, d=drop: cfg.delete_flag_config(s, d, deps.clock()),  # type: ignore[misc]
            command_id=drop.command_id,
            metadata=env_scope.metadata(drop.command_id),
        )
        position = max(position, done.position)
    return msgspec.structs.replace(written, position=position)
