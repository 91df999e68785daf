"""/v1/auth/providers (login discovery) and /v1/auth/oidc/* (OpenID Connect login), unauthenticated."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from domain.auth_providers.provider import AuthProvider
from domain.ids import canonical_email
from gateway.auth.guards import NO_AUTH
from gateway.deps import GatewayDeps
from gateway.errors import InvalidArgument, NotFound
from gateway.sso import oidc
from gateway.sso.provisioning import check_usable, sso_login
from gateway.sso.views import login_entry
from readmodels import auth_providers
from schemas.http_identity import TokenReply
from schemas.http_sso import LoginProvidersReply, OidcAuthorizeBody, OidcAuthorizeReply, OidcCallbackBody

EmailQuery = Annotated[
    str | None, QueryParameter(min_length=3, max_length=254, description="The address being logged in.")
]
OrgQuery = Annotated[UUID | None, QueryParameter(description="The organisation being logged in to.")]


def email_domain(email: str) -> str:
    """The domain of an address as typed (only the domain is ever looked up, never the account)."""
    local, at, domain = canonical_email(email).rpartition("@")
    if not at or not local or "." not in domain:
        raise InvalidArgument("email must look like name@example.com")
    return domain


async def usable_provider(deps: GatewayDeps, provider_id: UUID, org_id: UUID | None = None) -> AuthProvider:
    """An existing, enabled provider (of `org_id` when named); 404 / 403 otherwise."""
    provider = await auth_providers.get_provider(deps.db, provider_id)
    if provider is None:
        raise NotFound(f"auth provider {provider_id} not found")
    check_usable(provider, org_id)
    return provider


class SsoLoginController(Controller):
    path = "/v1/auth"
    tags = ["auth"]
    security = NO_AUTH

    @get("/providers")
    async def providers(
        self, deps: NamedDependency[GatewayDeps], email: EmailQuery = None, org: OrgQuery = None
    ) -> LoginProvidersReply:
        """The enabled providers a login page offers for an email (by its domain, as configured on the
        providers) or an organisation id: one query either way, never about accounts, so the answer
        cannot tell whether an address has an account."""
        if (email is None) == (org is None):
            raise InvalidArgument("give exactly one of `email` and `org`")
        if email is not None:
            found = await auth_providers.enabled_for_domain(deps.db, email_domain(email))
        else:
            assert org is not None
            found = await auth_providers.enabled_for_org(deps.db, org)
        return LoginProvidersReply(providers=[login_entry(p) for p in found])

    @post("/oidc/authorize", status_code=200)
    async def oidc_authorize(
        self, data: JSONBody[OidcAuthorizeBody], deps: NamedDependency[GatewayDeps]
    ) -> OidcAuthorizeReply:
        """Start an OpenID Connect login: the URL to send the browser to (code flow, PKCE S256, state and
        nonce kept server-side for STITCHD_SSO_STATE_TTL_SECONDS, usable once)."""
        provider = await usable_provider(deps, data.provider_id, data.org_id)
        url, state = await oidc.authorize_url(deps, provider, oidc.check_redirect_uri(data.redirect_uri))
        return OidcAuthorizeReply(redirect_url=url, state=state)

    @post("/oidc/callback", status_code=200)
    async def oidc_callback(
        self, data: JSONBody[OidcCallbackBody], deps: NamedDependency[GatewayDeps]
    ) -> TokenReply:
        """Finish the login: exchange the code, verify the ID token, issue Stitchd tokens exactly like
        a password login (the session acts in the provider's organisation only)."""
        provider = await usable_provider(deps, data.provider_id)
        who = await oidc.callback_identity(deps, provider, data.code, data.state, data.redirect_uri)
        return await sso_login(deps, provider, who)
