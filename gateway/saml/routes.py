"""/v1/auth/saml/*: SAML login (SP-initiated), unauthenticated like the other login routes.

POST /sso answers the IdP redirect (seed SamlSsoInitiate). The IdP's answer arrives at the provider's
ACS URL, /{provider_id}/acs, as the HTTP-POST binding's form (SAMLResponse, RelayState); POST /acs
takes the seed's SamlAcsCallback as JSON. Both end in the shared provisioning (gateway.sso) and answer
tokens exactly like a password login. GET /{provider_id}/metadata is our SP EntityDescriptor.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody

from domain.auth_providers.provider import AuthProvider
from gateway.auth.guards import NO_AUTH
from gateway.deps import GatewayDeps
from gateway.errors import ApiError, InvalidArgument, NotFound, Unauthenticated
from gateway.saml import login
from gateway.saml.errors import SamlConfigError, SamlRejected, SamlUnavailable
from gateway.sso.login_api import usable_provider
from gateway.sso.provisioning import sso_login
from gateway.sso.views import acs_url
from readmodels import auth_providers
from schemas.http_identity import TokenReply
from schemas.http_saml import SamlAcsBody, SamlPostForm, SamlSsoBody, SamlSsoReply

log = logging.getLogger(__name__)
METADATA_MEDIA_TYPE = "application/samlmetadata+xml"
FormBody = Body(media_type=RequestEncodingType.URL_ENCODED)


class SamlRefused(Unauthenticated):
    """The SAMLResponse (or RelayState) does not prove who logs in: nothing is issued."""


class SamlMisconfigured(ApiError, code="FAILED_PRECONDITION"):  # noqa: N818 - named for the gRPC status
    """The provider's IdP metadata is unusable: the org admin must fix the provider."""


class SamlNotInstalled(ApiError, code="UNAVAILABLE", status=503):  # noqa: N818 - named for the gRPC status
    """This gateway cannot check XML signatures (xmlsec1 missing)."""


@contextmanager
def saml_errors(provider_id: UUID) -> Iterator[None]:
    """The SAML layer's verdicts as API errors; the reason (never the document) goes to the log."""
    try:
        yield
    except SamlRejected as exc:
        log.info("SAML login refused for provider %s: %s", provider_id, exc)
        raise SamlRefused(f"SAML login refused: {exc}") from None
    except SamlConfigError as exc:
        log.warning("SAML provider %s is misconfigured: %s", provider_id, exc)
        raise SamlMisconfigured(f"the SAML provider cannot be used: {exc}") from None
    except SamlUnavailable as exc:
        log.error("SAML login impossible on this gateway: %s", exc)
        raise SamlNotInstalled("SAML login is not available on this gateway") from None


async def saml_provider(deps: GatewayDeps, provider_id: UUID, org_id: UUID | None = None) -> AuthProvider:
    """An existing, enabled SAML provider; 404 / 403 otherwise (an OIDC one is 404 here)."""
    provider = await usable_provider(deps, provider_id, org_id)
    if provider.config.saml is None:
        raise NotFound(f"SAML provider {provider_id} not found")
    return provider


async def acs(deps: GatewayDeps, provider_id: UUID, saml_response_b64: str, relay_state: str) -> TokenReply:
    provider = await saml_provider(deps, provider_id)
    with saml_errors(provider_id):
        who = await login.finish(deps, provider, saml_response_b64, relay_state)
    return await sso_login(deps, provider, who)


class SamlLoginController(Controller):
    path = "/v1/auth/saml"
    tags = ["auth"]
    security = NO_AUTH

    @post("/sso", status_code=200)
    async def sso(self, data: JSONBody[SamlSsoBody], deps: NamedDependency[GatewayDeps]) -> SamlSsoReply:
        """Start a SAML login: the IdP URL carrying a fresh AuthnRequest and a RelayState (kept
        server-side, single use, for STITCHD_SSO_STATE_TTL_SECONDS)."""
        provider = await saml_provider(deps, data.provider_id, data.org_id)
        if data.acs_url is not None and data.acs_url != acs_url(deps.sso, provider.id):
            raise InvalidArgument("acs_url must be the provider's ACS URL (its acs_url field)")
        with saml_errors(provider.id):
            started = await login.start(deps, provider)
        return SamlSsoReply(redirect_url=started.redirect_url, relay_state=started.relay_state)

    @post("/acs", status_code=200)
    async def acs_json(self, data: JSONBody[SamlAcsBody], deps: NamedDependency[GatewayDeps]) -> TokenReply:
        """Finish a SAML login from a relayed SAMLResponse (seed SamlAcsCallback): tokens exactly like
        a password login, in the provider's organisation only."""
        return await acs(deps, data.provider_id, data.saml_response_b64, data.relay_state)

    @post("/{provider_id:uuid}/acs", status_code=200)
    async def acs_post(
        self,
        provider_id: FromPath[UUID],
        data: Annotated[SamlPostForm, FormBody],
        deps: NamedDependency[GatewayDeps],
    ) -> TokenReply:
        """The provider's AssertionConsumerService (HTTP-POST binding: the IdP's form with SAMLResponse
        and RelayState): tokens exactly like a password login, in the provider's organisation only."""
        return await acs(deps, provider_id, data.saml_response, data.relay_state)

    @get("/{provider_id:uuid}/metadata", media_type=METADATA_MEDIA_TYPE)
    async def metadata(
        self, provider_id: FromPath[UUID], deps: NamedDependency[GatewayDeps]
    ) -> Response[str]:
        """Our SAML SP EntityDescriptor for this provider (entity id, ACS URL, NameID format), for the
        IdP's administrator. Served while the provider exists, enabled or not."""
        provider = await auth_providers.get_provider(deps.db, provider_id)
        if provider is None or provider.deleted or provider.config.saml is None:
            raise NotFound(f"SAML provider {provider_id} not found")
        with saml_errors(provider_id):
            xml = await login.sp_metadata(deps, provider)
        return Response(xml, media_type=METADATA_MEDIA_TYPE)
