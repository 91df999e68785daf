"""The admin HTTP server every process runs on its admin port: probes and /metrics.

A deliberately small HTTP/1.1 server on asyncio streams (GET only, one request per connection): the
processes other than the gateway have no web framework, and probes must keep answering when the
process's real work is stuck. Paths: /_liveness, /_readiness, /_startup, /healthz (= liveness) and
/metrics (only when metrics are enabled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from telemetry import metrics
from telemetry.probes import ProbeAnswer, Probes

log = logging.getLogger("stitchd.admin")
MAX_REQUEST_LINE = 4096
READ_TIMEOUT = 5.0
_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    400: "Bad Request",
    503: "Service Unavailable",
}


class AdminServer:
    """Serves one process's probes (and metrics) on `host:port`; port 0 picks a free one (see `port`)."""

    def __init__(self, probes: Probes, *, host: str = "0.0.0.0", port: int = 0, serve_metrics: bool) -> None:
        self.probes = probes
        self.host = host
        self.port = port
        self.serve_metrics = serve_metrics
        self._server: asyncio.Server | None = None
        self._routes: dict[str, Callable[[], Awaitable[ProbeAnswer]]] = {
            "/_liveness": probes.liveness,
            "/healthz": probes.liveness,
            "/_readiness": probes.readiness,
            "/_startup": probes.startup,
        }

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("admin server listening", extra={"port": self.port})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body = await asyncio.wait_for(self._answer(reader), READ_TIMEOUT)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()
        with suppress(Exception):
            await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, str, bytes]:
        line = await reader.readuntil(b"\r\n")
        while (await reader.readuntil(b"\r\n")) != b"\r\n":  # headers: ignored
            pass
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or len(line) > MAX_REQUEST_LINE:
            return 400, "text/plain", b"bad request\n"
        method, target = parts[0], parts[1].partition("?")[0]
        if method not in {"GET", "HEAD"}:
            return 405, "text/plain", b"method not allowed\n"
        if target == "/metrics" and self.serve_metrics:
            return 200, metrics.CONTENT_TYPE, metrics.render()
        route = self._routes.get(target)
        if route is None:
            return 404, "text/plain", b"not found\n"
        answer = await route()
        return answer.status, "application/json", answer.body


@asynccontextmanager
async def admin_server(
    probes: Probes, *, port: int | None, host: str = "0.0.0.0", serve_metrics: bool
) -> AsyncIterator[AdminServer | None]:
    """An admin server for the block; `port` None runs none (yields None)."""
    if port is None:
        yield None
        return
    server = AdminServer(probes, host=host, port=port, serve_metrics=serve_metrics)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
