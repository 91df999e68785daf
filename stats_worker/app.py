"""Composition root of `stitchd stats-worker`: the ingest consumer (JetStream -> ClickHouse), the results
schedule and the recompute-job runner, sharing one Postgres pool and the ClickHouse client.

ClickHouse tables are created or migrated at start (`ensure_schema`); the JetStream streams are applied
by `stitchd` before any process starts. With embedded chdb one client serves everything (chdb allows one
per data directory per process and serialises calls on it); with a ClickHouse server, computations get
their own client so a long query never shares a session with the inserts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import nats
from clickhouse_connect.driver.client import Client
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from psycopg_pool import AsyncConnectionPool

from schemas.ingest import INGEST_STREAM
from stats_worker import stranded
from stats_worker.clickhouse_schema import DEFAULT_DATABASE, ensure_schema, open_client
from stats_worker.consumer import DURABLE, ConsumerSettings, IngestConsumer
from stats_worker.jobs import JobRunner, JobSettings
from stats_worker.scheduler import Recomputer, Scheduler, ScheduleSettings
from stats_worker.sink import ClickHouseSink
from stats_worker.usage import UsageRollup, UsageSettings
from telemetry.admin import admin_server
from telemetry.probes import NotReadyError, Probes


async def start_ingest(
    js: JetStreamContext,
    client: Client,
    *,
    database: str = DEFAULT_DATABASE,
    settings: ConsumerSettings | None = None,
) -> IngestConsumer:
    """Create or migrate the ClickHouse tables, then a consumer ready to `run()`."""
    await asyncio.to_thread(ensure_schema, client, database)
    return IngestConsumer(js, ClickHouseSink(client, database), settings)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class StatsWorkerSettings:
    """Where the servers are and how the worker paces itself."""

    database_url: str
    nats_url: str
    clickhouse_url: str
    database: str = DEFAULT_DATABASE
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    consumer: ConsumerSettings | None = None
    usage: UsageSettings = field(default_factory=UsageSettings)


class StatsWorker:
    """The running worker; an async context manager (`start` / `stop`), `serve` until cancelled."""

    def __init__(
        self, settings: StatsWorkerSettings, *, client: Client | None, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self._given_client = client
        self._clock = clock
        self._owned: list[Client] = []
        self._pool: AsyncConnectionPool[Any] | None = None
        self._nc: NatsClient | None = None
        self._consumer: IngestConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.recomputer: Recomputer | None = None
        self.scheduler: Scheduler | None = None
        self.jobs: JobRunner | None = None
        self.usage: UsageRollup | None = None

    def _clients(self) -> tuple[Client, Client]:
        """(ingest client, computation client)."""
        if self._given_client is not None:
            return self._given_client, self._given_client
        url = self.settings.clickhouse_url
        ingest = open_client(url)
        self._owned.append(ingest)
        if url.startswith("chdb"):
            return ingest, ingest
        compute = open_client(url)
        self._owned.append(compute)
        return ingest, compute

    async def start(self) -> None:
        """Open Postgres, NATS and ClickHouse, create the ClickHouse tables, start the three loops."""
        s = self.settings
        self._pool = AsyncConnectionPool(
            s.database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
        )
        await self._pool.open(wait=True)
        ingest_client, compute_client = await asyncio.to_thread(self._clients)
        self._nc = await nats.connect(s.nats_url, max_reconnect_attempts=-1)
        js = self._nc.jetstream()
        self._consumer = await start_ingest(js, ingest_client, database=s.database, settings=s.consumer)
        durable = (s.consumer.config.durable_name if s.consumer else None) or DURABLE
        await stranded.follow(self._nc, js, stream=INGEST_STREAM, consumer=durable)
        self.recomputer = Recomputer(
            self._pool, compute_client, clock=self._clock, settings=s.schedule, database=s.database
        )
        self.scheduler = Scheduler(self.recomputer, self._pool, clock=self._clock, settings=s.schedule)
        self.jobs = JobRunner(self.recomputer, self._pool, clock=self._clock, settings=s.jobs)
        self.usage = UsageRollup(self._pool, compute_client, database=s.database, settings=s.usage)
        for name, loop in [
            ("stats-ingest", self._consumer.run()),
            ("stats-schedule", self.scheduler.run()),
            ("stats-jobs", self.jobs.run()),
            ("stats-usage", self.usage.run()),  # helper-ops: evaluation analytics
        ]:
            self._tasks.append(asyncio.create_task(loop, name=name))

    def probes(self) -> Probes:
        """The admin server's probes: started; Postgres, ClickHouse and NATS answer; every loop runs."""
        probes = Probes(started=lambda: bool(self._tasks))
        probes.add("postgres", self._postgres_ok)
        probes.add("nats", self._nats_ok)
        probes.add("loops", self._loops_ok)
        return probes

    async def _postgres_ok(self) -> None:
        assert self._pool is not None
        async with self._pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")

    async def _nats_ok(self) -> None:
        if self._nc is None or not self._nc.is_connected:
            raise NotReadyError("not connected to NATS")

    async def _loops_ok(self) -> None:
        stopped = [t.get_name() for t in self._tasks if t.done()]
        if stopped:
            raise NotReadyError("stopped: " + ", ".join(stopped))

    async def serve(self) -> None:
        """Run until cancelled or until a loop fails (its error is raised)."""
        await asyncio.gather(*self._tasks)

    async def stop(self) -> None:
        """Stop the loops, drop the subscription (unacked messages are redelivered), close everything."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._consumer is not None:
            await self._consumer.close()
        if self._nc is not None:
            await self._nc.close()
        if self._pool is not None:
            await self._pool.close()
        for client in self._owned:
            await asyncio.to_thread(client.close)
        self._owned.clear()

    async def __aenter__(self) -> StatsWorker:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def build_stats_worker(
    settings: StatsWorkerSettings,
    *,
    client: Client | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> StatsWorker:
    """The stats worker; `client` reuses an open ClickHouse client (tests: the session's chdb client)."""
    return StatsWorker(settings, client=client, clock=clock)


class ProcessResources(Protocol):
    @property
    def database_url(self) -> str: ...

    @property
    def nats_url(self) -> str: ...

    @property
    def clickhouse_url(self) -> str: ...


class ProcessSettings(Protocol):
    @property
    def admin_port(self) -> int | None: ...

    @property
    def enable_metrics(self) -> bool: ...


async def run(settings: ProcessSettings, resources: ProcessResources) -> None:
    """`stitchd stats-worker`: consume ingest, keep results current, run recompute jobs, until cancelled.
    Each experiment's `stats_interval_minutes` paces its results; there is no process-wide interval."""
    config = StatsWorkerSettings(
        database_url=resources.database_url,
        nats_url=resources.nats_url,
        clickhouse_url=resources.clickhouse_url,
    )
    async with build_stats_worker(config) as worker:
        probes = worker.probes()
        async with admin_server(probes, port=settings.admin_port, serve_metrics=settings.enable_metrics):
            await worker.serve()
