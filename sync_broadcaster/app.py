"""Broadcaster composition root: `build_broadcaster(settings)` and the `stitchd broadcaster` process."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from grpclib.health.check import ServiceCheck, ServiceStatus
from grpclib.health.service import OVERALL, Health
from psycopg_pool import AsyncConnectionPool

from readmodels.definitions import DEFAULT_HISTORY, DEFAULT_HISTORY_BYTES, DefinitionsCache, EventLog
from readmodels.definitions_log import DEFAULT_POLL_INTERVAL, PostgresEventLog, start_following
from sync_broadcaster.connections import ConnectionRecorder
from sync_broadcaster.server import DEFAULT_MAX_CONCURRENT_STREAMS, SyncServer
from sync_broadcaster.service import DEFAULT_HEARTBEAT_SECONDS, FlagSyncService
from sync_broadcaster.wire import WireCodec
from telemetry.admin import admin_server
from telemetry.probes import NotReadyError, Probes, task_running

log = logging.getLogger("stitchd.broadcaster")


STREAM_DRAIN_SECONDS = 2.0  # how long stop() lets streams send their UNAVAILABLE status


@dataclass(frozen=True, kw_only=True)
class BroadcasterSettings:
    """Where to read events and where to listen; port 0 picks a free port (see `Broadcaster.port`)."""

    database_url: str
    nats_url: str | None
    host: str = "0.0.0.0"
    port: int = 50050
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    history_limit: int = DEFAULT_HISTORY
    history_bytes: int = DEFAULT_HISTORY_BYTES
    poll_interval: float = DEFAULT_POLL_INTERVAL
    record_connections: bool = True  # helper-ops: streams in sdk_streams for GET .../sdk-connections
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key, the listener speaks TLS only
    tls_key: Path | None = None
    max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS  # HTTP/2 streams per connection


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS context for the gRPC listener (HTTP/2 over TLS 1.2+)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    return context


class Broadcaster:
    """The gRPC server, its cache and the follower keeping the cache current; an async context manager."""

    def __init__(
        self, settings: BroadcasterSettings, cache: DefinitionsCache, events: EventLog | None
    ) -> None:
        self.settings = settings
        self.cache = cache
        self._events = events
        self._pool: AsyncConnectionPool[Any] | None = None
        self._recorder_pool: AsyncConnectionPool[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._server: SyncServer | None = None
        self.service: FlagSyncService | None = None
        self.port = settings.port
        self.serving = ServiceStatus()  # grpc.health.v1: SERVING once started, NOT_SERVING when stopping

    async def start(self) -> None:
        """Fold the log, then listen; returns once SDKs can connect (cleans up if it cannot)."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        events = self._events or await self._open_log()
        follower = await start_following(
            self.cache, events, nats_url=self.settings.nats_url, poll_interval=self.settings.poll_interval
        )
        self._tasks.append(follower)
        sock = socket.create_server((self.settings.host, self.settings.port))
        self.port = sock.getsockname()[1]
        recorder = await self._recorder()
        self.service = FlagSyncService(
            self.cache, events, heartbeat_seconds=self.settings.heartbeat_seconds, recorder=recorder
        )
        self._tasks.append(asyncio.create_task(self.service.run_heartbeats(), name="sync-heartbeats"))
        if recorder is not None:
            self._tasks.append(asyncio.create_task(recorder.run(), name="sdk-connections"))
        self._server = SyncServer(
            [self.service, self._health(self.service)],
            codec=WireCodec(),
            max_concurrent_streams=self.settings.max_concurrent_streams,
        )
        cert, key = self.settings.tls_cert, self.settings.tls_key
        context = None if cert is None or key is None else server_tls(cert, key)
        await self._server.start(sock=sock, ssl=context)
        self.serving.set(True)
        log.info(
            "broadcaster listening",
            extra={"port": self.port, "position": self.cache.position, "tls": context is not None},
        )

    def _health(self, service: FlagSyncService) -> Health:
        """grpc.health.v1 for FlagSyncService and overall: serving, and the cache's follower running."""
        following = ServiceCheck(self._following, check_ttl=1.0, check_timeout=1.0)
        return Health({service: [self.serving, following], OVERALL: [self.serving, following]})

    async def _following(self) -> bool:
        return bool(self._tasks) and not self._tasks[0].done()

    def probes(self) -> Probes:
        """The admin server's probes: started, the follower running, the gRPC server serving."""
        probes = Probes(started=lambda: self.serving.__status__() is True)
        probes.add(
            "definitions_follower", task_running(lambda: self._tasks[0] if self._tasks else None, "follower")
        )
        probes.add("grpc", self._serving_check)
        return probes

    async def _serving_check(self) -> None:
        if self.serving.__status__() is not True:
            raise NotReadyError("not serving")

    async def _recorder(self) -> ConnectionRecorder | None:
        """Where streams are recorded (GET .../sdk-connections); None without a database."""
        if not self.settings.record_connections or not self.settings.database_url:
            return None
        self._recorder_pool = AsyncConnectionPool(
            self.settings.database_url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=False
        )
        await self._recorder_pool.open(wait=True)
        return ConnectionRecorder(self._recorder_pool, f"{socket.gethostname()}:{self.port}")

    async def _open_log(self) -> EventLog:
        self._pool = AsyncConnectionPool(
            self.settings.database_url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=False
        )
        await self._pool.open(wait=True)
        return PostgresEventLog(self._pool)

    async def serve(self) -> None:
        """Run until cancelled or until the follower fails (its error is raised)."""
        await asyncio.gather(*self._tasks)

    async def stop(self) -> None:
        """End open streams with UNAVAILABLE, close the server, stop the follower, close the pool."""
        self.serving.set(False)
        if self.service is not None:
            self.service.shutdown()
            await self._drain_streams(STREAM_DRAIN_SECONDS)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
        if self._recorder_pool is not None:
            await self._recorder_pool.close()

    async def _drain_streams(self, within: float) -> None:
        """Give open streams a moment to send their closing status before connections drop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.service is not None and self.service.open_streams and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> Broadcaster:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def build_broadcaster(settings: BroadcasterSettings, *, events: EventLog | None = None) -> Broadcaster:
    """The broadcaster process; `events` defaults to a read-only log over `settings.database_url`."""
    cache = DefinitionsCache(history_limit=settings.history_limit, history_bytes=settings.history_bytes)
    return Broadcaster(settings, cache, events)


class ProcessLimits(Protocol):
    @property
    def definition_history_bytes(self) -> int: ...


class ProcessSettings(Protocol):
    @property
    def grpc_port(self) -> int: ...

    @property
    def admin_port(self) -> int | None: ...

    @property
    def enable_metrics(self) -> bool: ...

    @property
    def limits(self) -> ProcessLimits: ...

    @property
    def grpc_tls_cert(self) -> Path | None: ...

    @property
    def grpc_tls_key(self) -> Path | None: ...

    @property
    def grpc_max_concurrent_streams(self) -> int: ...


class ProcessResources(Protocol):
    @property
    def database_url(self) -> str: ...

    @property
    def nats_url(self) -> str: ...


async def run(settings: ProcessSettings, resources: ProcessResources) -> None:
    """`stitchd broadcaster`: FlagSyncService on GRPC_PORT until cancelled."""
    config = BroadcasterSettings(
        database_url=resources.database_url,
        nats_url=resources.nats_url,
        host=os.environ.get("STITCHD_GRPC_HOST", "0.0.0.0"),
        port=settings.grpc_port,
        history_bytes=settings.limits.definition_history_bytes,
        tls_cert=settings.grpc_tls_cert,
        tls_key=settings.grpc_tls_key,
        max_concurrent_streams=settings.grpc_max_concurrent_streams,
    )
    async with (
        build_broadcaster(config) as broadcaster,
        admin_server(broadcaster.probes(), port=settings.admin_port, serve_metrics=settings.enable_metrics),
    ):
        await broadcaster.serve()
