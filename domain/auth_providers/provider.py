"""The auth-provider aggregate: state, fold and deciders (pure)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.auth_providers.commands import CreateAuthProvider, DeleteAuthProvider, UpdateAuthProvider
from domain.auth_providers.events import (
    AuthProviderConfigured,
    AuthProviderCreated,
    AuthProviderDeleted,
    AuthProviderEvent,
    ProviderConfig,
)
from domain.auth_providers.rules import check_config
from domain.errors import (
    AuthProviderAlreadyExists,
    AuthProviderNotFound,
    InvalidProviderConfig,
    check_version,
)
from domain.ids import stream_id


class AuthProvider(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    org_id: UUID
    config: ProviderConfig
    created_at: datetime
    updated_at: datetime
    deleted: bool = False


def provider_stream(org_id: UUID, key: str) -> UUID:
    """A deterministic provider id for an idempotent create (e.g. from an Idempotency-Key)."""
    return stream_id("auth_provider", org_id, key)


def _live(state: AuthProvider | None, org_id: UUID, provider_id: UUID) -> AuthProvider:
    if state is None or state.deleted or state.org_id != org_id:
        raise AuthProviderNotFound(f"auth provider {provider_id} not found")
    return state


def create(state: AuthProvider | None, cmd: CreateAuthProvider, now: datetime) -> list[AuthProviderEvent]:
    """A new provider; the id must be fresh."""
    if state is not None:
        raise AuthProviderAlreadyExists(f"auth provider {cmd.provider_id} already exists")
    config = check_config(cmd.config)
    return [
        AuthProviderCreated(
            stream_id=cmd.provider_id, version=1, occurred_at=now, org_id=cmd.org_id, config=config
        )
    ]


def _keep_secret(old: ProviderConfig, new: ProviderConfig) -> ProviderConfig:
    """An OIDC update without a secret keeps the stored (sealed) one."""
    if new.oidc is None or new.oidc.client_secret or old.oidc is None:
        return new
    return msgspec.structs.replace(
        new, oidc=msgspec.structs.replace(new.oidc, client_secret=old.oidc.client_secret)
    )


def update(state: AuthProvider | None, cmd: UpdateAuthProvider, now: datetime) -> list[AuthProviderEvent]:
    """Replace the configuration; its type cannot change; the same configuration is a no-op."""
    current = _live(state, cmd.org_id, cmd.provider_id)
    check_version(current.version, cmd.expected_version)
    config = _keep_secret(current.config, check_config(cmd.config))
    if config.provider_type != current.config.provider_type:
        raise InvalidProviderConfig(f"a {current.config.provider_type} provider cannot become another type")
    if config == current.config:
        return []
    return [
        AuthProviderConfigured(
            stream_id=current.id, version=current.version + 1, occurred_at=now, config=config
        )
    ]


def delete(state: AuthProvider | None, cmd: DeleteAuthProvider, now: datetime) -> list[AuthProviderEvent]:
    """Delete the provider: its logins stop at once; its history stays."""
    current = _live(state, cmd.org_id, cmd.provider_id)
    check_version(current.version, cmd.expected_version)
    return [AuthProviderDeleted(stream_id=current.id, version=current.version + 1, occurred_at=now)]


def evolve(state: AuthProvider | None, event: AuthProviderEvent) -> AuthProvider:
    """Fold one fact; never refuses."""
    match event:
        case AuthProviderCreated(stream_id=id_, version=v, occurred_at=at, org_id=org, config=config):
            return AuthProvider(id=id_, version=v, org_id=org, config=config, created_at=at, updated_at=at)
        case AuthProviderConfigured(version=v, occurred_at=at, config=config):
            assert state is not None
            return msgspec.structs.replace(state, version=v, config=config, updated_at=at)
        case AuthProviderDeleted(version=v, occurred_at=at):
            assert state is not None
            return msgspec.structs.replace(state, version=v, deleted=True, updated_at=at)


def replay(events: Iterable[AuthProviderEvent]) -> AuthProvider | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)


Decider = Callable[[AuthProvider | None], list[AuthProviderEvent]]
