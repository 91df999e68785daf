"""Auth-provider intents. Secrets arrive here already sealed: a command never holds one in clear."""

from __future__ import annotations

from uuid import UUID

from domain.auth_providers.events import ProviderConfig
from domain.events import Command


class CreateAuthProvider(Command, frozen=True, kw_only=True, tag="auth_provider.create"):
    provider_id: UUID
    org_id: UUID
    config: ProviderConfig


class UpdateAuthProvider(Command, frozen=True, kw_only=True, tag="auth_provider.update"):
    """The new configuration; an OIDC `client_secret` left empty keeps the stored one."""

    provider_id: UUID
    org_id: UUID
    config: ProviderConfig
    expected_version: int | None = None


class DeleteAuthProvider(Command, frozen=True, kw_only=True, tag="auth_provider.delete"):
    provider_id: UUID
    org_id: UUID
    expected_version: int | None = None


AuthProviderCommand = CreateAuthProvider | UpdateAuthProvider | DeleteAuthProvider
