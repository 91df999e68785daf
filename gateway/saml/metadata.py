"""IdP metadata by URL: fetched over HTTPS only, bounded in time and size, cached per URL for a while.

An org admin chooses the URL, so the gateway fetches what a tenant tells it to: only `https://`, no
redirects, a short timeout, at most `max_bytes` read, and the body is never shown to anyone (a bad
fetch answers one generic error), so the fetch cannot be used to read internal services. A caller
that finds a document unusable, or a signature failing against it, `forget`s it; a document fetched
less than MIN_REFETCH_SECONDS ago is kept, so failing logins cannot turn into a stream of fetches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from gateway.saml.errors import SamlConfigError

DEFAULT_METADATA_MAX_BYTES = 1_048_576
DEFAULT_METADATA_TIMEOUT_SECONDS = 5.0
DEFAULT_METADATA_CACHE_SECONDS = 3600.0
MIN_REFETCH_SECONDS = 30.0  # `forget` within this of the last fetch keeps the document: no fetch storms


@dataclass(kw_only=True)
class MetadataFetcher:
    """Fetches and caches IdP metadata documents; `client` is borrowed (its owner closes it)."""

    client: httpx.AsyncClient
    max_bytes: int = DEFAULT_METADATA_MAX_BYTES
    timeout_seconds: float = DEFAULT_METADATA_TIMEOUT_SECONDS
    cache_seconds: float = DEFAULT_METADATA_CACHE_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, str]] = field(default_factory=dict)
    _fetched_at: dict[str, float] = field(default_factory=dict)

    async def get(self, url: str) -> str:
        """The metadata XML at `url` (from the cache while fresh)."""
        cached = self._cache.get(url)
        if cached is not None and cached[0] > self.monotonic():
            return cached[1]
        xml = await self._fetch(url)
        self._cache[url] = (self.monotonic() + self.cache_seconds, xml)
        return xml

    def forget(self, url: str) -> None:
        """Drop the cached document (a key rotation?) unless it was fetched moments ago."""
        if self.monotonic() - self._fetched_at.get(url, float("-inf")) >= MIN_REFETCH_SECONDS:
            self._cache.pop(url, None)

    async def _fetch(self, url: str) -> str:
        if urlsplit(url).scheme != "https":
            raise SamlConfigError("the IdP metadata URL must be https")
        self._fetched_at[url] = self.monotonic()
        body = bytearray()
        try:
            async with self.client.stream(
                "GET", url, timeout=self.timeout_seconds, follow_redirects=False
            ) as response:
                if response.status_code != 200:
                    raise SamlConfigError(f"the IdP metadata URL answered {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise SamlConfigError("the IdP metadata document is too large")
        except httpx.HTTPError as exc:
            raise SamlConfigError(f"the IdP metadata URL cannot be fetched ({type(exc).__name__})") from exc
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SamlConfigError("the IdP metadata document is not UTF-8") from exc
