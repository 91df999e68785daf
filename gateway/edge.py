"""The gateway's outermost ASGI layer: load shedding, rate limits and HTTP metrics, before any routing.

Order per request: the source-address bucket, then the credential's bucket (x-sdk-key, else a bearer
token: a verified JWT's subject, or the raw token hashed, which covers SDK keys sent as bearer tokens),
then the in-flight cap (MAX_CONCURRENCY: over it, 503 UNAVAILABLE at once; nothing queues). A refused
request answers 429 RESOURCE_EXHAUSTED with Retry-After in the error envelope; in log-only mode it is
logged and counted instead. Probe routes are never limited. Metrics label the route by its template
(Litestar's `path_template`, set while routing), so raw paths never become label values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.asgi_types import ASGIApp, Message, Receive, Scope, Send
from gateway.auth.addresses import TrustedProxies, client_address
from gateway.auth.tokens import TokenSettings, decode_access_token
from gateway.errors import ApiError
from gateway.ratelimit import Buckets, LimitSettings, retry_after_header
from telemetry import metrics

log = logging.getLogger("stitchd.gateway.limits")
PROBE_PATHS = frozenset({"/_liveness", "/_readiness", "/_startup", "/healthz"})
UNROUTED = "_unrouted"  # refused before routing, or no route matched


class Edge:
    """Wraps the app's ASGI handler (see `install_edge`)."""

    def __init__(
        self,
        app: ASGIApp,
        limits: LimitSettings,
        *,
        tokens: TokenSettings,
        clock: Callable[[], datetime],
        proxies: TrustedProxies | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limits = limits
        self.tokens = tokens
        self.clock = clock
        self.proxies = proxies if proxies is not None else TrustedProxies()
        self.monotonic = monotonic
        self.by_ip = Buckets(limits.ip_capacity, limits.ip_per_second)
        self.by_credential = Buckets(limits.credential_capacity, limits.credential_per_second)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._limited(scope, receive, tracking_send)
        finally:
            route = scope.get("path_template") or UNROUTED
            metrics.observe_http(route, scope["method"], status[0], time.perf_counter() - started)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        wait = self._rate_limited(scope)
        if wait:
            await _envelope(send, 429, "RESOURCE_EXHAUSTED", "rate limit exceeded; retry later", wait)
            return
        cap = self.limits.max_concurrency
        if cap and self.in_flight >= cap:
            metrics.count_rate_limit("concurrency", "limited")
            await _envelope(send, 503, "UNAVAILABLE", "the gateway is at capacity; retry", 1.0)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _rate_limited(self, scope: Scope) -> float:
        """Seconds to wait when a bucket refuses the request (0.0: go ahead)."""
        limits, now = self.limits, self.monotonic()
        if limits.ip_enabled:
            wait = self._decide("ip", self.by_ip, self._address(scope), now)
            if wait:
                return wait
        if limits.credential_enabled:
            credential = self._credential(scope)
            if credential is not None:
                return self._decide("credential", self.by_credential, credential, now)
        return 0.0

    def _decide(self, limiter: str, buckets: Buckets, key: str, now: float) -> float:
        wait = buckets.take(key, now)
        if not wait:
            metrics.count_rate_limit(limiter, "allowed")
            return 0.0
        if self.limits.log_only:
            metrics.count_rate_limit(limiter, "log_only")
            log.warning("rate limit exceeded (log only)", extra={"limiter": limiter})
            return 0.0
        metrics.count_rate_limit(limiter, "limited")
        return wait

    def _address(self, scope: Scope) -> str:
        peer = scope.get("client")
        return client_address(peer[0] if peer else None, _header(scope, b"x-forwarded-for"), self.proxies)

    def _credential(self, scope: Scope) -> str | None:
        sdk_key = _header(scope, b"x-sdk-key")
        if sdk_key:
            return "key:" + _digest(sdk_key.strip())
        auth = _header(scope, b"authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            claims = decode_access_token(self.tokens, token.strip(), now=self.clock())
            return f"sub:{claims.sub}"
        except ApiError:  # not a valid JWT of ours: an opaque bearer credential (e.g. an SDK key)
            return "bearer:" + _digest(token.strip())


def _digest(secret: str) -> str:
    """Buckets are keyed by a hash: the limiter's memory never holds a credential."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _envelope(send: Send, status: int, code: str, message: str, retry_after: float) -> None:
    body = json.dumps({"error": message, "code": code}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", retry_after_header(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_edge(app: Any, edge: Callable[[ASGIApp], Edge]) -> Edge:
    """Put the Edge around the Litestar app's ASGI handler (outside routing and exception handling)."""
    wrapped = edge(app.asgi_handler)
    app.asgi_handler = wrapped
    return wrapped
