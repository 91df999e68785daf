"""Per-process cache of each issuer's discovery document and signing keys (JWKS), with bounded refetch.

A token whose `kid` is unknown triggers one JWKS refetch (key rotation at the IdP), but at most one per
issuer per `jwks_refetch_interval`: a stream of forged kids cannot turn the gateway into a request
amplifier against the IdP. Entries are bounded in number (least recently used dropped first).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

import httpx
import msgspec
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.sso.outbound import IdpUnavailable, bounded_request
from gateway.sso.settings import SsoSettings

MAX_ISSUERS = 256
DISCOVERY_TTL = timedelta(hours=1)
WELL_KNOWN = "/.well-known/openid-configuration"


class Discovery(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of an OpenID Provider's metadata Stitchd uses (unknown fields ignored)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: list[str] = msgspec.field(default_factory=lambda: ["RS256"])
    token_endpoint_auth_methods_supported: list[str] = msgspec.field(
        default_factory=lambda: ["client_secret_basic"]
    )


class _Entry(msgspec.Struct, kw_only=True):
    discovery: Discovery
    discovered_at: datetime
    keys: KeySet | None = None
    keys_at: datetime | None = None


async def get_json(client: httpx.AsyncClient, url: str, settings: SsoSettings, what: str) -> object:
    status, body = await bounded_request(client, "GET", url, limit=settings.max_response_bytes)
    if status != 200:
        raise IdpUnavailable(f"identity provider {what} answered HTTP {status}")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise IdpUnavailable(f"identity provider {what} is not JSON") from None


class OidcCache:
    def __init__(self, max_issuers: int = MAX_ISSUERS) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_issuers

    def _remember(self, issuer: str, entry: _Entry) -> None:
        self._entries[issuer] = entry
        self._entries.move_to_end(issuer)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def discovery(
        self, client: httpx.AsyncClient, issuer: str, settings: SsoSettings, now: datetime
    ) -> Discovery:
        """The issuer's metadata (cached an hour); its `issuer` must be exactly the configured one."""
        entry = self._entries.get(issuer)
        if entry is not None and now - entry.discovered_at < DISCOVERY_TTL:
            return entry.discovery
        raw = await get_json(client, issuer + WELL_KNOWN, settings, "discovery document")
        try:
            found = msgspec.convert(raw, Discovery)
        except msgspec.ValidationError:
            raise IdpUnavailable("identity provider discovery document lacks required fields") from None
        if found.issuer.rstrip("/") != issuer:  # OpenID Connect Discovery 1.0, section 4.3
            raise IdpUnavailable("identity provider discovery names another issuer")
        self._remember(issuer, _Entry(discovery=found, discovered_at=now))
        return found

    async def keys(
        self, client: httpx.AsyncClient, issuer: str, settings: SsoSettings, now: datetime, *, refresh: bool
    ) -> KeySet:
        """The issuer's keys: cached, or fetched when absent, or refetched on `refresh` unless the last
        fetch is more recent than the refetch interval."""
        entry = self._entries.get(issuer)
        if entry is None:
            raise IdpUnavailable("identity provider metadata not loaded")
        recent = entry.keys_at is not None and now - entry.keys_at < settings.jwks_refetch_interval
        if entry.keys is not None and (not refresh or recent):
            return entry.keys
        raw = await get_json(client, entry.discovery.jwks_uri, settings, "JWKS")
        try:
            keys = KeySet.import_key_set(raw)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise IdpUnavailable("identity provider JWKS is malformed") from None
        entry.keys, entry.keys_at = keys, now
        return keys
