"""`stitchd edge`: the relays, the downstream gRPC sync and the HTTP routes, with no database or bus.

Each configured SDK key gets an SDK client on the upstream broadcaster (since_sequence, reconnects,
durable cache under STITCHD_EDGE_CACHE_DIR) started without waiting: the edge serves as soon as a key
has definitions, from upstream or from its cache, and goes on serving them while upstream is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from types import TracebackType
from typing import Self

import uvicorn
from grpclib.server import Server
from stitchd_sdk import AsyncSdkClient, SdkOptions

from domain.tenancy.sdk_keys import hash_sdk_key
from edge.http import create_edge_app
from edge.relay import Relay
from edge.sync_service import EdgeSyncService
from stitchd.settings import EdgeSettings, Settings
from sync_broadcaster.server import SyncServer
from sync_broadcaster.wire import WireCodec

log = logging.getLogger("stitchd.edge")
DRAIN_SECONDS = 2.0


class Edge:
    """The edge process as an async context manager; `grpc_port` / `http_port` are the bound ones."""

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        host: str = "0.0.0.0",
        heartbeat_seconds: float = 15.0,
        sdk_options: SdkOptions | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.grpc_port = settings.grpc_port
        self.http_port = settings.http_port
        options = sdk_options or SdkOptions()
        self._options = dataclasses.replace(options, cache_dir=str(settings.cache_dir), offline=False)
        self.relays: dict[str, Relay] = {}
        self.service = EdgeSyncService(self.relays, heartbeat_seconds=heartbeat_seconds)
        self._grpc: Server | None = None
        self._http: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every relay (from its cache if any), then listen for gRPC and HTTP."""
        s = self.settings
        for key in s.sdk_keys:
            client = AsyncSdkClient(s.upstream_grpc, s.upstream_rest, key, self._options)
            relay = Relay(client, s.history)  # its tap sees every message, the first snapshot included
            await client.start(wait=False)
            self.relays[hash_sdk_key(key)] = relay
        self._tasks.append(asyncio.create_task(self.service.ticker.run(), name="edge-heartbeats"))
        sock = socket.create_server((self.host, self.grpc_port))
        self.grpc_port = sock.getsockname()[1]
        self._grpc = SyncServer([self.service], codec=WireCodec())
        await self._grpc.start(sock=sock)
        await self._start_http()
        log.info("edge listening", extra={"grpc_port": self.grpc_port, "http_port": self.http_port})

    async def _start_http(self) -> None:
        app = create_edge_app(self.relays)
        config = uvicorn.Config(app, host=self.host, port=self.http_port, log_level="warning", lifespan="off")
        self._http = server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(), name="edge-http")
        self._tasks.append(task)
        while not server.started:
            if task.done():
                await task  # its error
                raise RuntimeError("the edge's HTTP server stopped at start")
            await asyncio.sleep(0.01)
        self.http_port = server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """End downstream streams (UNAVAILABLE), stop listening, stop the relays (cache written)."""
        self.service.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        while self.service.open_streams and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._grpc is not None:
            self._grpc.close()
            await self._grpc.wait_closed()
            self._grpc = None
        if self._http is not None:
            self._http.should_exit = True
        for task in self._tasks:
            if task.get_name() != "edge-http":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for relay in self.relays.values():
            await relay.client.aclose()

    async def serve(self) -> None:
        """Until cancelled."""
        await asyncio.gather(*self._tasks)


async def _run(settings: EdgeSettings) -> None:
    async with Edge(settings) as edge:
        await edge.serve()


def main(argv: list[str]) -> int:
    """`stitchd edge`: settings from the environment (docs/edge.md); runs until interrupted."""
    if argv:
        print("stitchd edge takes no arguments: it reads STITCHD_EDGE_* settings (docs/edge.md)")
        return 2
    from stitchd.logging import configure_logging

    configure_logging(Settings.from_env())
    settings = EdgeSettings.from_env()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings))
    return 0
