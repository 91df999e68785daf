"""SAML login, the service: protocol (gateway.saml.protocol) + server-side state + IdP metadata.

`initiate` records the AuthnRequest under a fresh random RelayState (single use, `request_ttl`);
`complete` takes that request back by its RelayState (gone after this call, whatever the outcome),
verifies the response as an answer to exactly that request, and records the assertion id so the same
assertion never logs in twice. pysaml2 runs `xmlsec1` as a subprocess, so both run in a worker thread.

Metadata by URL is cached (gateway.saml.metadata); when a response fails to verify against cached
metadata, it is fetched again once and the response checked again, so an IdP's key rotation is
picked up at the first login signed with the new key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from gateway.saml.envelope import DEFAULT_MAX_RESPONSE_BYTES
from gateway.saml.errors import SamlConfigError, SamlRejected
from gateway.saml.identity import SamlIdentity
from gateway.saml.metadata import MetadataFetcher
from gateway.saml.protocol import (
    DEFAULT_SKEW_SECONDS,
    AuthnRedirect,
    ServiceProvider,
    authn_redirect,
    sp_metadata_xml,
    verify_response,
)
from gateway.saml.state import PendingRequest, first_use, remember_request, take_request
from readmodels.db import ReadDb

DEFAULT_REQUEST_TTL_SECONDS = 600  # how long a user may spend at the IdP between redirect and callback
RELAY_STATE_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class SamlSettings:
    """SAML knobs (stitchd/settings.py reads them: STITCHD_SAML_*)."""

    request_ttl_seconds: int = DEFAULT_REQUEST_TTL_SECONDS
    skew_seconds: int = DEFAULT_SKEW_SECONDS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


class SamlProvider(msgspec.Struct, frozen=True, kw_only=True):
    """What the login needs of one SAML provider: ids, our SP side, and where the IdP is described."""

    provider_id: UUID
    sp_entity_id: str
    acs_url: str
    idp_metadata_xml: str = ""
    idp_metadata_url: str = ""
    name_id_format: str = ""


class SamlStart(msgspec.Struct, frozen=True, kw_only=True):
    redirect_url: str
    relay_state: str


@dataclass(kw_only=True)
class SamlLogin:
    db: ReadDb
    clock: Callable[[], datetime]
    metadata: MetadataFetcher | None = None  # None: providers must carry inline metadata
    settings: SamlSettings = field(default_factory=SamlSettings)

    def _sp(self, provider: SamlProvider, metadata_xml: str) -> ServiceProvider:
        return ServiceProvider(
            entity_id=provider.sp_entity_id,
            acs_url=provider.acs_url,
            idp_metadata_xml=metadata_xml,
            name_id_format=provider.name_id_format,
            skew_seconds=self.settings.skew_seconds,
            max_response_bytes=self.settings.max_response_bytes,
        )

    async def _metadata(self, provider: SamlProvider, *, fresh: bool = False) -> str:
        if provider.idp_metadata_xml.strip() or not provider.idp_metadata_url:
            return provider.idp_metadata_xml
        if self.metadata is None:
            raise SamlConfigError("IdP metadata by URL is not configured on this gateway")
        if fresh:
            self.metadata.forget(provider.idp_metadata_url)
        return await self.metadata.get(provider.idp_metadata_url)

    def _forget(self, provider: SamlProvider) -> None:
        if self.metadata is not None and provider.idp_metadata_url:
            self.metadata.forget(provider.idp_metadata_url)

    async def sp_metadata(self, provider: SamlProvider) -> str:
        """Our EntityDescriptor for this provider (needs no IdP metadata)."""
        return await asyncio.to_thread(sp_metadata_xml, self._sp(provider, ""))

    async def initiate(self, provider: SamlProvider) -> SamlStart:
        """A redirect to the IdP and the RelayState it will return; the request is now outstanding."""
        relay_state = secrets.token_urlsafe(RELAY_STATE_BYTES)
        xml = await self._metadata(provider)
        try:
            redirect: AuthnRedirect = await asyncio.to_thread(
                authn_redirect, self._sp(provider, xml), relay_state
            )
        except SamlConfigError:
            self._forget(provider)
            raise
        now = self.clock()
        pending = PendingRequest(
            request_id=redirect.request_id, provider_id=provider.provider_id, acs_url=provider.acs_url
        )
        expires = now + timedelta(seconds=self.settings.request_ttl_seconds)
        await remember_request(self.db, pending, relay_state=relay_state, now=now, expires_at=expires)
        return SamlStart(redirect_url=redirect.redirect_url, relay_state=relay_state)

    async def complete(
        self, provider: SamlProvider, *, saml_response_b64: str, relay_state: str
    ) -> SamlIdentity:
        """The identity a valid response to our outstanding request asserts; SamlRejected otherwise."""
        now = self.clock()
        pending = await take_request(
            self.db, relay_state=relay_state, provider_id=provider.provider_id, now=now
        )
        if pending is None:
            raise SamlRejected("the RelayState is unknown, used or expired")
        if pending.acs_url != provider.acs_url:
            raise SamlRejected("the provider's ACS URL changed since the request was sent")
        identity = await self._verify(provider, saml_response_b64, pending.request_id)
        expires = identity.not_on_or_after + timedelta(seconds=self.settings.skew_seconds)
        used = await first_use(
            self.db,
            provider_id=provider.provider_id,
            assertion_id=identity.assertion_id,
            now=now,
            expires_at=expires,
        )
        if not used:
            raise SamlRejected("the assertion was already used (replay)")
        return identity

    async def _verify(self, provider: SamlProvider, saml_response_b64: str, request_id: str) -> SamlIdentity:
        xml = await self._metadata(provider)
        try:
            identity = await self._check(provider, xml, saml_response_b64, request_id)
        except SamlRejected:
            fresh = await self._metadata(provider, fresh=True)
            if fresh == xml:
                raise
            identity = await self._check(provider, fresh, saml_response_b64, request_id)
        return identity

    async def _check(self, provider: SamlProvider, xml: str, b64: str, request_id: str) -> SamlIdentity:
        return await asyncio.to_thread(verify_response, self._sp(provider, xml), b64, request_id=request_id)
