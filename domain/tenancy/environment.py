"""The environment aggregate and its SDK keys: state, fold and deciders.

SDK keys live in the environment's stream so "never revoke the last active key" is one aggregate's
invariant. Events hold only a key's hash and display prefix (see `domain.tenancy.sdk_keys`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import (
    EnvironmentAlreadyExists,
    EnvironmentNotFound,
    InvalidArgument,
    LastActiveSdkKey,
    SdkKeyAlreadyExists,
    SdkKeyAlreadyRevoked,
    SdkKeyNotFound,
)
from domain.ids import check_name
from domain.tenancy.commands import CreateEnvironment, IssueSdkKey, RenameEnvironment, RevokeSdkKey
from domain.tenancy.events import (
    EnvironmentCreated,
    EnvironmentEvent,
    EnvironmentRenamed,
    SdkKeyIssued,
    SdkKeyRevoked,
)


class SdkKey(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


class Environment(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    org_id: UUID
    project_id: UUID
    name: str
    sdk_keys: tuple[SdkKey, ...] = ()

    def active_keys(self) -> tuple[SdkKey, ...]:
        """Keys that still authenticate."""
        return tuple(k for k in self.sdk_keys if k.active)


def _fresh_name(name: str, taken_names: frozenset[str]) -> str:
    checked = check_name(name, what="environment name")
    if checked.casefold() in {n.casefold() for n in taken_names}:
        raise EnvironmentAlreadyExists(f"an environment named {checked!r} already exists")
    return checked


def _existing(env: Environment | None, environment_id: UUID) -> Environment:
    if env is None:
        raise EnvironmentNotFound(f"environment {environment_id} not found")
    return env


def create_environment(
    env: Environment | None,
    cmd: CreateEnvironment,
    now: datetime,
    *,
    taken_names: frozenset[str] = frozenset(),
) -> list[EnvironmentEvent]:
    """A new environment; `taken_names` are the project's other environment names (case-insensitive)."""
    if env is not None:
        raise EnvironmentAlreadyExists(f"environment {cmd.environment_id} already exists")
    name = _fresh_name(cmd.name, taken_names)
    return [
        EnvironmentCreated(
            stream_id=cmd.environment_id,
            version=1,
            occurred_at=now,
            org_id=cmd.org_id,
            project_id=cmd.project_id,
            name=name,
        )
    ]


def rename_environment(
    env: Environment | None,
    cmd: RenameEnvironment,
    now: datetime,
    *,
    taken_names: frozenset[str] = frozenset(),
) -> list[EnvironmentEvent]:
    """Rename; the same name is a no-op, another environment's name is refused."""
    current = _existing(env, cmd.environment_id)
    if check_name(cmd.name, what="environment name") == current.name:
        return []
    name = _fresh_name(cmd.name, taken_names - {current.name})
    return [EnvironmentRenamed(stream_id=current.id, version=current.version + 1, occurred_at=now, name=name)]


def issue_sdk_key(env: Environment | None, cmd: IssueSdkKey, now: datetime) -> list[EnvironmentEvent]:
    """Record a new key by hash and prefix; the id must be fresh."""
    current = _existing(env, cmd.environment_id)
    if any(k.id == cmd.key_id for k in current.sdk_keys):
        raise SdkKeyAlreadyExists(f"SDK key {cmd.key_id} already exists")
    if not cmd.key_hash or not cmd.prefix:
        raise InvalidArgument("an SDK key needs a hash and a display prefix")
    return [
        SdkKeyIssued(
            stream_id=current.id,
            version=current.version + 1,
            occurred_at=now,
            key_id=cmd.key_id,
            name=cmd.name.strip(),
            key_hash=cmd.key_hash,
            prefix=cmd.prefix,
        )
    ]


def revoke_sdk_key(env: Environment | None, cmd: RevokeSdkKey, now: datetime) -> list[EnvironmentEvent]:
    """Revoke a key; refused for an unknown or revoked key and for the last active one."""
    current = _existing(env, cmd.environment_id)
    key = next((k for k in current.sdk_keys if k.id == cmd.key_id), None)
    if key is None:
        raise SdkKeyNotFound(f"SDK key {cmd.key_id} not found")
    if not key.active:
        raise SdkKeyAlreadyRevoked(f"SDK key {cmd.key_id} is already revoked")
    if len(current.active_keys()) == 1:
        raise LastActiveSdkKey("cannot revoke the last active SDK key; issue a new key first")
    return [SdkKeyRevoked(stream_id=current.id, version=current.version + 1, occurred_at=now, key_id=key.id)]


def _revoke(keys: tuple[SdkKey, ...], key_id: UUID, at: datetime) -> tuple[SdkKey, ...]:
    return tuple(msgspec.structs.replace(k, revoked_at=at) if k.id == key_id else k for k in keys)


def evolve(state: Environment | None, event: EnvironmentEvent) -> Environment:
    """Fold one fact; never refuses."""
    match event:
        case EnvironmentCreated(stream_id=id_, version=v, org_id=org_id, project_id=project_id, name=name):
            return Environment(id=id_, version=v, org_id=org_id, project_id=project_id, name=name)
        case EnvironmentRenamed(version=v, name=name):
            assert state is not None
            return msgspec.structs.replace(state, version=v, name=name)
        case SdkKeyIssued(version=v, occurred_at=at, key_id=key_id, name=name, key_hash=h, prefix=prefix):
            assert state is not None
            key = SdkKey(id=key_id, name=name, prefix=prefix, key_hash=h, created_at=at)
            return msgspec.structs.replace(state, version=v, sdk_keys=(*state.sdk_keys, key))
        case SdkKeyRevoked(version=v, occurred_at=at, key_id=key_id):
            assert state is not None
            return msgspec.structs.replace(state, version=v, sdk_keys=_revoke(state.sdk_keys, key_id, at))


def replay(events: Iterable[EnvironmentEvent]) -> Environment | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
