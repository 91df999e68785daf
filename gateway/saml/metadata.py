"""IdP metadata by URL: fetched through the SSO outbound guard, cached per URL for a while.

An org admin chooses the URL, so the fetch goes through gateway.sso.outbound (no non-public
addresses unless STITCHD_SSO_ALLOW_PRIVATE_IDP, no redirects, bounded time and size, nothing of the
answer echoed) and must be `https://` unless STITCHD_SSO_REQUIRE_HTTPS is off. A caller that finds a
document unusable, or a signature failing against it, `forget`s it; a document fetched less than
MIN_REFETCH_SECONDS ago is kept, so failing logins cannot turn into a stream of fetches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.saml.errors import SamlConfigError
from gateway.sso.outbound import IdpUnavailable, bounded_request, idp_client
from gateway.sso.settings import SsoSettings

DEFAULT_METADATA_CACHE_SECONDS = 3600.0
MIN_REFETCH_SECONDS = 30.0


@dataclass(kw_only=True)
class MetadataCache:
    """One gateway process's IdP metadata documents by URL."""

    cache_seconds: float = DEFAULT_METADATA_CACHE_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, str]] = field(default_factory=dict)
    _fetched_at: dict[str, float] = field(default_factory=dict)

    async def get(self, url: str, sso: SsoSettings) -> str:
        """The metadata XML at `url` (from the cache while fresh)."""
        cached = self._cache.get(url)
        if cached is not None and cached[0] > self.monotonic():
            return cached[1]
        xml = await fetch_metadata(url, sso)
        self._fetched_at[url] = self.monotonic()
        self._cache[url] = (self.monotonic() + self.cache_seconds, xml)
        return xml

    def forget(self, url: str) -> None:
        """Drop the cached document (a key rotation?) unless it was fetched moments ago."""
        if self.monotonic() - self._fetched_at.get(url, float("-inf")) >= MIN_REFETCH_SECONDS:
            self._cache.pop(url, None)


async def fetch_metadata(url: str, sso: SsoSettings) -> str:
    """One guarded GET of a metadata document: 200 and UTF-8, else a generic error."""
    if sso.require_https and not url.startswith("https://"):
        raise SamlConfigError("the IdP metadata URL must be https")
    async with idp_client(sso) as client:
        status, body = await bounded_request(
            client, "GET", url, limit=sso.max_response_bytes, headers={"Accept": "application/xml"}
        )
    if status != 200:
        raise IdpUnavailable(f"the IdP metadata URL answered {status}")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise SamlConfigError("the IdP metadata document is not UTF-8") from None
