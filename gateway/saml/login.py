"""SAML login, the service: protocol (gateway.saml.protocol) + server-side state + IdP metadata.

`start` records the AuthnRequest id under a fresh RelayState (gateway.sso.state, kind "saml": random,
stored hashed, single use, STITCHD_SSO_STATE_TTL_SECONDS) bound to the provider and its ACS URL.
`finish` takes that state back (gone after this call, whatever the outcome), verifies the response as
an answer to exactly that request, and records the assertion id (gateway.saml.state) so one assertion
never logs in twice. pysaml2 runs `xmlsec1` as a subprocess, so protocol calls run in a worker thread.

Metadata by URL is cached (gateway.saml.metadata); when a response fails against cached metadata, it
is fetched again once and the response checked again, so an IdP's key rotation is picked up by the
first login signed with the new key.

Email verification (the rule provisioning asks for): SAML has no standard claim, so an explicit
`email_verified` attribute decides when the IdP sends one; otherwise the email counts as verified
only when the provider lists `email_domains` (the org admin declared the IdP authoritative for those
domains, and provisioning refuses any email outside them).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec

from domain.auth_providers.events import SamlSettings as ProviderSaml
from domain.auth_providers.provider import AuthProvider
from gateway.deps import GatewayDeps
from gateway.errors import InvalidArgument
from gateway.saml.errors import SamlConfigError, SamlRejected
from gateway.saml.identity import SamlIdentity
from gateway.saml.protocol import (
    ServiceProvider,
    authn_redirect,
    new_request_id,
    sp_metadata_xml,
    verify_response,
)
from gateway.saml.state import first_use
from gateway.sso.provisioning import AssertedIdentity
from gateway.sso.state import put_state, take_state
from gateway.sso.views import acs_url

KIND = "saml"


class SamlStart(msgspec.Struct, frozen=True, kw_only=True):
    redirect_url: str
    relay_state: str


def saml_of(provider: AuthProvider) -> ProviderSaml:
    if provider.config.saml is None:
        raise InvalidArgument("this provider is not a SAML provider")
    return provider.config.saml


def metadata_url(deps: GatewayDeps, provider: AuthProvider) -> str:
    """Where the SP metadata is served; also the SP entity id when the provider sets none."""
    return f"{deps.sso.public_url.rstrip('/')}/v1/auth/saml/{provider.id}/metadata"


def service_provider(
    deps: GatewayDeps, provider: AuthProvider, idp_metadata_xml: str = ""
) -> ServiceProvider:
    saml = saml_of(provider)
    return ServiceProvider(
        entity_id=saml.sp_entity_id or metadata_url(deps, provider),
        acs_url=acs_url(deps.sso, provider.id),
        idp_metadata_xml=idp_metadata_xml,
        name_id_format=saml.name_id_format,
        skew_seconds=deps.saml.skew_seconds,
        max_response_bytes=deps.saml.max_response_bytes,
    )


async def _idp_metadata(deps: GatewayDeps, provider: AuthProvider, *, fresh: bool = False) -> str:
    saml = saml_of(provider)
    if saml.idp_metadata_xml.strip() or not saml.idp_metadata_url:
        return saml.idp_metadata_xml
    cache = deps.saml_metadata_cache()
    if fresh:
        cache.forget(saml.idp_metadata_url)
    return await cache.get(saml.idp_metadata_url, deps.sso)


def _forget(deps: GatewayDeps, provider: AuthProvider) -> None:
    if saml_of(provider).idp_metadata_url:
        deps.saml_metadata_cache().forget(saml_of(provider).idp_metadata_url)


async def sp_metadata(deps: GatewayDeps, provider: AuthProvider) -> str:
    """Our EntityDescriptor for this provider (needs no IdP metadata)."""
    return await asyncio.to_thread(sp_metadata_xml, service_provider(deps, provider))


async def start(deps: GatewayDeps, provider: AuthProvider) -> SamlStart:
    """A redirect to the IdP and the RelayState it will return; the request is now outstanding."""
    sp = service_provider(deps, provider, await _idp_metadata(deps, provider))
    request_id = new_request_id()
    relay_state = await put_state(
        deps.db, kind=KIND, provider_id=provider.id, org_id=provider.org_id, redirect_uri=sp.acs_url,
        data={"request_id": request_id}, now=deps.clock(), ttl=deps.sso.state_ttl,
    )  # fmt: skip
    try:
        redirect = await asyncio.to_thread(authn_redirect, sp, relay_state, request_id=request_id)
    except SamlConfigError:
        _forget(deps, provider)
        raise
    return SamlStart(redirect_url=redirect.redirect_url, relay_state=relay_state)


async def finish(
    deps: GatewayDeps, provider: AuthProvider, saml_response_b64: str, relay_state: str
) -> AssertedIdentity:
    """The identity a valid response to our outstanding request asserts; SamlRejected otherwise."""
    now = deps.clock()
    pending = await take_state(deps.db, relay_state, kind=KIND, now=now)
    sp = service_provider(deps, provider)
    if pending is None or pending.provider_id != provider.id:
        raise SamlRejected("the RelayState is unknown, used, expired or another provider's")
    if pending.redirect_uri != sp.acs_url:
        raise SamlRejected("the provider's ACS URL changed since the request was sent")
    who = await _verify(deps, provider, saml_response_b64, str(pending.data.get("request_id", "")))
    expires = who.not_on_or_after + timedelta(seconds=deps.saml.skew_seconds)
    if not await first_use(
        deps.db, provider_id=provider.id, assertion_id=who.assertion_id, now=now, expires_at=expires
    ):
        raise SamlRejected("the assertion was already used (replay)")
    return asserted(who, provider)


def asserted(who: SamlIdentity, provider: AuthProvider) -> AssertedIdentity:
    """What provisioning needs, with the email-verified rule of this module's docstring."""
    verified = who.email_verified_attribute
    if verified is None:
        verified = bool(provider.config.email_domains)
    return AssertedIdentity(
        subject=f"{who.name_id_format}|{who.name_id}",
        email=who.email,
        email_verified=verified and bool(who.email),
        name=who.name,
        groups=who.groups,
    )


async def _verify(deps: GatewayDeps, provider: AuthProvider, b64: str, request_id: str) -> SamlIdentity:
    xml = await _idp_metadata(deps, provider)
    try:
        return await _check(deps, provider, xml, b64, request_id)
    except SamlRejected:
        fresh = await _idp_metadata(deps, provider, fresh=True)
        if fresh == xml:
            raise
        return await _check(deps, provider, fresh, b64, request_id)


async def _check(
    deps: GatewayDeps, provider: AuthProvider, xml: str, b64: str, request_id: str
) -> SamlIdentity:
    sp = service_provider(deps, provider, xml)
    return await asyncio.to_thread(verify_response, sp, b64, request_id=request_id)
