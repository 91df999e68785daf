"""Outbound HTTP to identity providers: bounded time and size, no redirects, no proxies from the
environment, and no connection to a non-public address unless `allow_private_idp` is set.

The issuer and metadata URLs are tenant-controlled, so every connection (discovery, JWKS, token, and
whatever endpoints a discovery document names) goes through `GuardedBackend`: it resolves the host
itself, refuses if ANY resolved address is loopback, private, link-local, multicast, reserved or
otherwise not globally routable, and connects to the address it checked (a DNS answer that changes
between check and connect cannot slip through). TLS still verifies the certificate for the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

from gateway.errors import ApiError
from gateway.sso.settings import SsoSettings


class IdpUnavailable(ApiError, code="UNAVAILABLE"):  # noqa: N818 - named for the gRPC status
    """The identity provider could not be reached or answered badly (nothing of its answer is echoed)."""


class BlockedAddress(httpcore.ConnectError):
    """The host resolves to an address the gateway may not connect to."""


def is_public(address: str) -> bool:
    """Globally routable unicast (an IPv4-mapped IPv6 address is judged as its IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's default backend behind an address check done on the addresses actually dialled."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise BlockedAddress("host does not resolve")
        if not self._allow_private and not all(is_public(a) for a in addresses):
            raise BlockedAddress("identity provider address is not public (STITCHD_SSO_ALLOW_PRIVATE_IDP)")
        return await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not identity providers")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def idp_client(settings: SsoSettings) -> httpx.AsyncClient:
    """A client for one login's requests; close it after use (`async with`)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    # httpx has no public hook for the network backend: swap in a pool that uses the guarded one.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=4,
        network_backend=GuardedBackend(allow_private=settings.allow_private_idp),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
        headers={"Accept": "application/json", "User-Agent": "stitchd-sso"},
    )


async def bounded_request(
    client: httpx.AsyncClient, method: str, url: str, *, limit: int, **kwargs: Any
) -> tuple[int, bytes]:
    """(status, body) of one request; the body is read only up to `limit` bytes (more: IdpUnavailable)."""
    try:
        async with client.stream(method, url, **kwargs) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise IdpUnavailable("identity provider answer too large")
            return response.status_code, bytes(body)
    except httpx.HTTPError as exc:
        if isinstance(exc.__cause__, BlockedAddress):
            raise IdpUnavailable(str(exc.__cause__)) from None
        raise IdpUnavailable(f"identity provider unreachable: {type(exc).__name__}") from None
