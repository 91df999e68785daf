"""The per-environment flag configuration aggregate (enabled, off variant, rules, fallthrough, hashing).

Every decider takes the project-level `flag` (its variants validate the config) and the environment's
`segment_keys` (rules may only name existing segments), both loaded by the handler. On a stream with no
live configuration the first change records `FlagConfigCreated` with the full resulting config; until
then readers use `default_config(flag)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import FlagConfigNotFound, check_version
from domain.flags.commands import (
    ConfigureFlag,
    DeleteFlagConfig,
    ReplaceFlagRules,
    SetFallthrough,
    SetFlagEnabled,
    SetFlagHashing,
    SetOffVariant,
)
from domain.flags.events import (
    FlagConfigCreated,
    FlagConfigDeleted,
    FlagConfigEvent,
    FlagDisabled,
    FlagEnabled,
    FlagFallthroughChanged,
    FlagHashingChanged,
    FlagOffVariantChanged,
    FlagRulesReplaced,
)
from domain.flags.flag import Flag, live_flag
from domain.flags.model import FlagConfig, FlagDefinition, Serve
from domain.flags.validation import check_config
from domain.ids import stream_id

ConfigChange = (
    ConfigureFlag | SetFlagEnabled | SetOffVariant | ReplaceFlagRules | SetFallthrough | SetFlagHashing
)


class FlagEnvConfig(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    project_id: UUID
    environment_id: UUID
    key: str
    config: FlagConfig
    deleted: bool = False


def flag_config_stream(environment_id: UUID, key: str) -> UUID:
    """The configuration stream of a flag key in an environment."""
    return stream_id("flag_config", environment_id, key)


def default_config(flag: Flag) -> FlagConfig:
    """An environment's config before any change: disabled, serving the first variant everywhere."""
    first = flag.variants[0].key
    return FlagConfig(enabled=False, off_variant=first, fallthrough=Serve(variant_key=first))


def definition_of(flag: Flag, config: FlagEnvConfig | None, environment_id: UUID) -> FlagDefinition:
    """What evaluation sees for this flag in this environment."""
    live = config is not None and not config.deleted
    return FlagDefinition(
        key=flag.key,
        project_id=flag.project_id,
        environment_id=environment_id,
        value_type=flag.value_type,
        variants=flag.variants,
        config=config.config if live and config is not None else default_config(flag),
        version=config.version if config is not None else 0,
        archived=flag.archived,
    )


def _diff(
    stream: UUID, version: int, now: datetime, old: FlagConfig, new: FlagConfig
) -> list[FlagConfigEvent]:
    changes: list[Callable[[int], FlagConfigEvent]] = []
    if new.enabled != old.enabled:
        kind = FlagEnabled if new.enabled else FlagDisabled
        changes.append(lambda v: kind(stream_id=stream, version=v, occurred_at=now))
    if new.off_variant != old.off_variant:
        changes.append(
            lambda v: FlagOffVariantChanged(
                stream_id=stream, version=v, occurred_at=now, off_variant=new.off_variant
            )
        )
    if new.rules != old.rules:
        changes.append(
            lambda v: FlagRulesReplaced(stream_id=stream, version=v, occurred_at=now, rules=new.rules)
        )
    if new.fallthrough != old.fallthrough:
        changes.append(
            lambda v: FlagFallthroughChanged(
                stream_id=stream, version=v, occurred_at=now, fallthrough=new.fallthrough
            )
        )
    if new.hashing != old.hashing:
        changes.append(
            lambda v: FlagHashingChanged(stream_id=stream, version=v, occurred_at=now, hashing=new.hashing)
        )
    return [make(version + i) for i, make in enumerate(changes, start=1)]


def _target(cmd: ConfigChange, current: FlagConfig) -> FlagConfig:
    match cmd:
        case ConfigureFlag(config=config):
            return config
        case SetFlagEnabled(enabled=enabled):
            return msgspec.structs.replace(current, enabled=enabled)
        case SetOffVariant(off_variant=off):
            return msgspec.structs.replace(current, off_variant=off)
        case ReplaceFlagRules(rules=rules):
            return msgspec.structs.replace(current, rules=rules)
        case SetFallthrough(fallthrough=serve):
            return msgspec.structs.replace(current, fallthrough=serve)
        case SetFlagHashing(hashing=hashing):
            return msgspec.structs.replace(current, hashing=hashing)


def change_config(
    state: FlagEnvConfig | None,
    cmd: ConfigChange,
    now: datetime,
    *,
    flag: Flag | None,
    segment_keys: frozenset[str] = frozenset(),
) -> list[FlagConfigEvent]:
    """Decide any config command but deletion: validate the resulting config, record only what changed."""
    definition = live_flag(flag, cmd.key)
    live = state is not None and not state.deleted
    version = 0 if state is None else state.version
    check_version(version, cmd.expected_version)
    current = state.config if live and state is not None else default_config(definition)
    target = _target(cmd, current)
    unchanged_rules = live and target.rules == current.rules
    check_config(target, definition.variant_keys, segment_keys, budget=not unchanged_rules)
    stream = flag_config_stream(cmd.environment_id, cmd.key)
    if live:
        return _diff(stream, version, now, current, target)
    created = FlagConfigCreated(
        stream_id=stream,
        version=version + 1,
        occurred_at=now,
        project_id=cmd.project_id,
        environment_id=cmd.environment_id,
        key=cmd.key,
        config=target,
    )
    return [created]


def delete_flag_config(
    state: FlagEnvConfig | None, cmd: DeleteFlagConfig, now: datetime
) -> list[FlagConfigEvent]:
    """Drop the environment's configuration; deleting an absent one is a no-op."""
    if state is None or state.deleted:
        return []
    check_version(state.version, cmd.expected_version)
    return [FlagConfigDeleted(stream_id=state.id, version=state.version + 1, occurred_at=now)]


def require_config(state: FlagEnvConfig | None, key: str) -> FlagEnvConfig:
    """The live configuration, or FlagConfigNotFound."""
    if state is None or state.deleted:
        raise FlagConfigNotFound(f"flag {key!r} has no configuration in this environment")
    return state


def _with(state: FlagEnvConfig | None, version: int, **changes: object) -> FlagEnvConfig:
    assert state is not None
    return msgspec.structs.replace(
        state, version=version, config=msgspec.structs.replace(state.config, **changes)
    )


def evolve(state: FlagEnvConfig | None, event: FlagConfigEvent) -> FlagEnvConfig:
    """Fold one fact; never refuses."""
    match event:
        case FlagConfigCreated(stream_id=id_, version=v, project_id=p, environment_id=e, key=k, config=c):
            return FlagEnvConfig(id=id_, version=v, project_id=p, environment_id=e, key=k, config=c)
        case FlagEnabled(version=v):
            return _with(state, v, enabled=True)
        case FlagDisabled(version=v):
            return _with(state, v, enabled=False)
        case FlagOffVariantChanged(version=v, off_variant=off):
            return _with(state, v, off_variant=off)
        case FlagRulesReplaced(version=v, rules=rules):
            return _with(state, v, rules=rules)
        case FlagFallthroughChanged(version=v, fallthrough=serve):
            return _with(state, v, fallthrough=serve)
        case FlagHashingChanged(version=v, hashing=hashing):
            return _with(state, v, hashing=hashing)
        case FlagConfigDeleted(version=v):
            assert state is not None
            return msgspec.structs.replace(state, version=v, deleted=True)


def replay(events: Iterable[FlagConfigEvent]) -> FlagEnvConfig | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
