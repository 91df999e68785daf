"""/v1/management/auth-providers: an organisation's identity providers, for its admins only.

Client secrets are write-only: sealed before the command is built (the log, the read model and every
reply see only the sealed form or nothing), never echoed, never logged.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from commands.auth_providers import change_auth_provider, set_sso_requirement
from domain.auth_providers.commands import CreateAuthProvider, DeleteAuthProvider, UpdateAuthProvider
from domain.auth_providers.events import OidcSettings, ProviderConfig, SamlSettings
from domain.auth_providers.provider import AuthProvider
from domain.tenancy.commands import SetOrgSsoRequirement
from gateway.audit import audit_filter
from gateway.auth.guards import BEARER, org_admin
from gateway.auth.principals import Caller
from gateway.deps import GatewayDeps
from gateway.errors import Aborted, NotFound
from gateway.query import VersionQuery
from gateway.sso.secrets import SecretBox, keyed_digest
from gateway.sso.views import provider_reply
from gateway.tenancy import command_ids, matches_path, own_org
from gateway.writes import IdempotencyKey
from readmodels import auth_providers, history
from schemas.http_sso import (
    AuthProviderEnvelope,
    AuthProvidersReply,
    CreateAuthProviderBody,
    DeletedAuthProviderReply,
    OidcConfigBody,
    SamlConfigBody,
    SsoSettingsBody,
    SsoSettingsReply,
    UpdateAuthProviderBody,
)


def _oidc(box: SecretBox, provider_id: UUID, body: OidcConfigBody) -> OidcSettings:
    return OidcSettings(
        issuer_url=body.issuer_url, client_id=body.client_id, scopes=tuple(body.scopes),
        client_secret=box.seal(provider_id, body.client_secret),
    )  # fmt: skip


def _saml(body: SamlConfigBody) -> SamlSettings:
    return SamlSettings(**msgspec.structs.asdict(body))


def _fingerprinted(box: SecretBox, body: CreateAuthProviderBody) -> object:
    """The body as the idempotency fingerprint sees it: the secret only as a keyed digest."""
    if body.oidc is None:
        return body
    hidden = msgspec.structs.replace(body.oidc, client_secret=keyed_digest(box, body.oidc.client_secret))
    return msgspec.structs.replace(body, oidc=hidden)


def _created_config(box: SecretBox, provider_id: UUID, body: CreateAuthProviderBody) -> ProviderConfig:
    return ProviderConfig(
        display_name=body.display_name, enabled=body.enabled, default_role=body.default_role,
        group_roles=dict(body.group_roles), email_domains=tuple(body.email_domains),
        oidc=None if body.oidc is None else _oidc(box, provider_id, body.oidc),
        saml=None if body.saml is None else _saml(body.saml),
    )  # fmt: skip


def _updated_config(box: SecretBox, current: AuthProvider, body: UpdateAuthProviderBody) -> ProviderConfig:
    """The current configuration with the body's fields; an OIDC block without a secret keeps it."""
    old = current.config
    pick = {
        k: getattr(body, k)
        for k in ("display_name", "enabled", "default_role")
        if getattr(body, k) is not None
    }
    if body.group_roles is not None:
        pick["group_roles"] = dict(body.group_roles)
    if body.email_domains is not None:
        pick["email_domains"] = tuple(body.email_domains)
    if body.oidc is not None:
        pick["oidc"] = _oidc(box, current.id, body.oidc)
    if body.saml is not None:
        pick["saml"] = _saml(body.saml)
    return msgspec.structs.replace(old, **pick)


async def provider_of(deps: GatewayDeps, caller: Caller, provider_id: UUID) -> AuthProvider:
    """The caller's organisation's provider, else 404 (another organisation's too)."""
    provider = await auth_providers.get_provider(deps.db, provider_id)
    if provider is None or provider.org_id != caller.org_id:
        raise NotFound(f"auth provider {provider_id} not found")
    return provider


async def _answer(
    deps: GatewayDeps, caller: Caller, provider_id: UUID, position: int
) -> AuthProviderEnvelope:
    await deps.settle(position)
    provider = await provider_of(deps, caller, provider_id)
    return AuthProviderEnvelope(provider=provider_reply(provider, deps.sso), position=position)


class AuthProviderController(Controller):
    path = "/v1/management/auth-providers"
    tags = ["sso"]
    security = BEARER
    guards = [org_admin]
    dependencies = {"audit_query": Provide(audit_filter, sync_to_thread=False)}

    @post("/")
    async def create(
        self,
        data: JSONBody[CreateAuthProviderBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> AuthProviderEnvelope:
        """A provider (exactly one of `oidc`, `saml`); the client secret is stored sealed, never shown."""
        own_org(caller, data.org_id)
        box = deps.secret_box()
        command_id, provider_id = await command_ids(
            caller.org_id, "auth_provider", idempotency_key, body=_fingerprinted(box, data), db=deps.db
        )
        config = _created_config(box, provider_id, data)
        cmd = CreateAuthProvider(
            command_id=command_id, provider_id=provider_id, org_id=caller.org_id, config=config
        )
        written = await change_auth_provider(cmd, store=deps.store, clock=deps.clock, actor=caller.actor)
        return await _answer(deps, caller, provider_id, written.position)

    @get("/")
    async def list_providers(
        self, caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> AuthProvidersReply:
        """The organisation's providers, oldest first (secrets redacted)."""
        rows = await auth_providers.org_providers(deps.db, caller.org_id)
        return AuthProvidersReply(providers=[provider_reply(p, deps.sso) for p in rows])

    @get("/{provider_id:uuid}")
    async def get_provider(
        self, provider_id: FromPath[UUID], caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> AuthProviderEnvelope:
        """One provider (secrets redacted)."""
        provider = await provider_of(deps, caller, provider_id)
        return AuthProviderEnvelope(provider=provider_reply(provider, deps.sso))

    @put("/{provider_id:uuid}")
    async def update(
        self,
        provider_id: FromPath[UUID],
        data: JSONBody[UpdateAuthProviderBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> AuthProviderEnvelope:
        """Change the fields given at `version`; an `oidc` block with an empty secret keeps the stored one."""
        matches_path("provider_id", data.provider_id, provider_id)
        current = await provider_of(deps, caller, provider_id)
        if current.version != data.version:  # the merge base must be the version the caller read
            raise Aborted(f"version conflict: expected {data.version}, provider is at {current.version}")
        config = _updated_config(deps.secret_box(), current, data)
        cmd = UpdateAuthProvider(
            command_id=uuid4(), provider_id=provider_id, org_id=caller.org_id, config=config,
            expected_version=data.version,
        )  # fmt: skip
        written = await change_auth_provider(cmd, store=deps.store, clock=deps.clock, actor=caller.actor)
        return await _answer(deps, caller, provider_id, written.position)

    @delete("/{provider_id:uuid}", status_code=200)
    async def delete_provider(
        self,
        provider_id: FromPath[UUID],
        version: VersionQuery,
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> DeletedAuthProviderReply:
        """Delete the provider at `version`: its logins stop; its audit history stays."""
        await provider_of(deps, caller, provider_id)
        cmd = DeleteAuthProvider(
            command_id=uuid4(), provider_id=provider_id, org_id=caller.org_id, expected_version=version
        )
        written = await change_auth_provider(cmd, store=deps.store, clock=deps.clock, actor=caller.actor)
        return DeletedAuthProviderReply(provider_id=provider_id, position=await deps.settle(written.position))

    @get("/{provider_id:uuid}/audit")
    async def audit(
        self,
        provider_id: FromPath[UUID],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
        audit_query: NamedDependency[history.AuditFilter],
    ) -> history.AuditPage:
        """The provider's history, newest first, with actor, time and changes (secrets redacted)."""
        if not await auth_providers.ever_in_org(deps.db, provider_id, caller.org_id):
            raise NotFound(f"auth provider {provider_id} not found")
        return await history.audit_page(
            deps.db, msgspec.structs.replace(audit_query, stream_ids=(provider_id,))
        )


class SsoSettingsController(Controller):
    path = "/v1/management/sso-settings"
    tags = ["sso"]
    security = BEARER
    guards = [org_admin]

    @get("/")
    async def get_settings(
        self, caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> SsoSettingsReply:
        """Whether the organisation requires SSO."""
        required = await auth_providers.requires_sso(deps.db, caller.org_id)
        return SsoSettingsReply(org_id=caller.org_id, require_sso=required)

    @put("/")
    async def put_settings(
        self,
        data: JSONBody[SsoSettingsBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> SsoSettingsReply:
        """Require SSO: password logins (and password sessions) of the organisation's non-system members
        are refused with SSO_REQUIRED from then on."""
        cmd = SetOrgSsoRequirement(command_id=uuid4(), org_id=caller.org_id, require_sso=data.require_sso)
        written = await set_sso_requirement(cmd, store=deps.store, clock=deps.clock, actor=caller.actor)
        position = await deps.settle(written.position)
        return SsoSettingsReply(org_id=caller.org_id, require_sso=data.require_sso, position=position)
