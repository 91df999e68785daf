"""The registry of Stitchd processes (`stitchd <name>`, all run by `stitchd up`) and one-shot tools.

To add a process: one `ProcessSpec` entry in PROCESSES whose `target` names an
`async def run(settings: Settings, resources: Resources) -> None` that serves until cancelled.
To add a one-shot command (e.g. `stitchd openapi`): one `ToolSpec` entry in TOOLS whose `target`
names a `def main(argv: list[str]) -> int`. Targets are "module:function" strings imported only when
run, so `stitchd --help` never imports a server framework.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, cast

from stitchd.settings import Settings

log = logging.getLogger("stitchd")

STOP_WITHIN = 15.0  # how long a stopping process may take before it is left behind
RECANCEL_EVERY = 0.5


@dataclass(frozen=True)
class Resources:
    """Where the servers are, resolved (embedded or from the environment) before any process starts."""

    database_url: str
    nats_url: str
    clickhouse_url: str


ProcessRun = Callable[[Settings, Resources], Coroutine[Any, Any, None]]
ToolMain = Callable[[list[str]], int]


@dataclass(frozen=True)
class ProcessSpec:
    """A long-running process; `listens` says what `stitchd up` prints for it (an address or a role)."""

    name: str
    help: str
    target: str
    listens: Callable[[Settings], str] | None = None
    ready_port: Callable[[Settings], int] | None = None  # `up` says ready once this TCP port accepts
    admin_offset: int = 0  # in `stitchd up`, this process's admin port is STITCHD_ADMIN_PORT + offset

    def load(self) -> ProcessRun:
        """The process's `run` function (imports its module now)."""
        return cast(ProcessRun, _resolve(self.target))


@dataclass(frozen=True)
class ToolSpec:
    """A one-shot command taking the rest of the command line."""

    name: str
    help: str
    target: str

    def load(self) -> ToolMain:
        """The tool's `main` function (imports its module now)."""
        return cast(ToolMain, _resolve(self.target))


def _resolve(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


async def run_relay(settings: Settings, resources: Resources) -> None:
    """The outbox relay: the `events` table to JetStream STITCHD_EVENTS."""
    from commands.relay import CHECKPOINT, OutboxRelay
    from stitchd.ops import operable, relay_lag
    from telemetry.probes import task_running

    relay = OutboxRelay(resources.database_url, resources.nats_url)
    ops = operable(
        resources.database_url,
        admin_port=settings.admin_port,
        serve_metrics=settings.enable_metrics,
        checkpoints=[CHECKPOINT],
        lag=relay_lag,
    )
    async with ops as probes:
        task = asyncio.create_task(relay.run(), name="relay-loop")
        probes.add("relay", task_running(task, "the relay loop"))
        await task


async def run_projector(settings: Settings, resources: Resources) -> None:
    """Every registered projection, each from its durable JetStream consumer; poison to STITCHD_DLQ."""
    from projections.projector import run_projector as run
    from projections.registry import PROJECTIONS
    from readmodels.db import CHECKPOINT_PREFIX
    from stitchd.dlq import JetStreamDeadLetters
    from stitchd.ops import operable, projection_lag
    from telemetry.probes import task_running

    ops = operable(
        resources.database_url,
        admin_port=settings.admin_port,
        serve_metrics=settings.enable_metrics,
        checkpoints=[CHECKPOINT_PREFIX + p.NAME for p in PROJECTIONS],
        lag=projection_lag,
    )
    async with ops as probes:
        task = asyncio.create_task(
            run(resources.database_url, resources.nats_url, PROJECTIONS, dead_letters=JetStreamDeadLetters),
            name="projector",
        )
        probes.add("projector", task_running(task, "the projections"))
        await task


def _projector_role(settings: Settings) -> str:
    from projections.registry import PROJECTIONS

    return "projections " + ", ".join(p.NAME for p in PROJECTIONS)


PROCESSES: dict[str, ProcessSpec] = {
    spec.name: spec
    for spec in [
        ProcessSpec(
            "relay", "publish stored events to JetStream", "stitchd.processes:run_relay", admin_offset=2
        ),
        ProcessSpec(
            "projector",
            "run the projections",
            "stitchd.processes:run_projector",
            listens=_projector_role,
            admin_offset=3,
        ),
        ProcessSpec(
            "gateway",
            "the REST gateway (Litestar)",
            "stitchd.gateway_main:run",
            listens=lambda s: f"http://0.0.0.0:{s.http_port} (docs at /docs)",
            ready_port=lambda s: s.http_port,
        ),
        ProcessSpec(
            "broadcaster",
            "definition sync for SDKs (gRPC FlagSyncService)",
            "sync_broadcaster.app:run",
            listens=lambda s: f"grpc://0.0.0.0:{s.grpc_port}",
            ready_port=lambda s: s.grpc_port,
            admin_offset=1,
        ),
        ProcessSpec(  # helper-ingest
            "stats-worker",
            "ingest into ClickHouse, experiment results on schedule and recompute jobs",
            "stats_worker.app:run",
            listens=lambda s: "JetStream STITCHD_INGEST -> ClickHouse; results -> rm_experiment_results",
            admin_offset=4,
        ),
    ]
}

TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec("openapi", "print or write the gateway's OpenAPI spec", "stitchd.gateway_main:openapi_main"),
        ToolSpec("seed-user", "create a system organisation admin", "stitchd.gateway_main:seed_user_main"),
    ]
}


class ProcessExitedError(RuntimeError):
    """A process returned or failed while the others were meant to keep running."""


async def serve(names: Iterable[str], settings: Settings, resources: Resources, stop: asyncio.Event) -> None:
    """Run the named processes until `stop` is set; if one ends first, stop the rest and raise."""
    names = list(names)
    runs = {n: PROCESSES[n].load() for n in names}
    _configure_metrics(settings)
    tasks = [
        asyncio.create_task(run(process_settings(settings, n, alone=len(names) == 1), resources), name=n)
        for n, run in runs.items()
    ]
    stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait(), name="stop")
    try:
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _cancel([*tasks, stopper])
    ended = [t for t in done if t is not stopper]
    failed = [t for t in ended if t.cancelled() or t.exception() is not None]
    if failed or (ended and not await _stopping_soon(stop)):
        task = (failed or ended)[0]
        cause = None if task.cancelled() else task.exception()
        raise ProcessExitedError(f"process {task.get_name()} stopped: {cause or 'it returned'}") from cause


def process_settings(settings: Settings, name: str, *, alone: bool) -> Settings:
    """The settings one process runs with: alone, its admin port is STITCHD_ADMIN_PORT; beside others
    (`stitchd up`), STITCHD_ADMIN_PORT + its `admin_offset` (0 stays 0: every one takes a free port)."""
    base = settings.admin_port
    if alone or not base:
        return settings
    return dataclasses.replace(settings, admin_port=base + PROCESSES[name].admin_offset)


def admin_port_of(settings: Settings, name: str) -> int | None:
    """Where `stitchd up` serves the named process's probes and metrics."""
    return process_settings(settings, name, alone=False).admin_port


def _configure_metrics(settings: Settings) -> None:
    from telemetry import metrics

    metrics.configure(enabled=settings.enable_metrics, max_flag_series=settings.max_flag_series)


async def _stopping_soon(stop: asyncio.Event, grace: float = 1.0) -> bool:
    """Whether `stop` is (about to be) set: a server that caught SIGTERM itself may return first."""
    try:
        await asyncio.wait_for(stop.wait(), grace)
    except TimeoutError:
        return False
    return True


async def _cancel(tasks: Iterable[asyncio.Task[Any]], within: float = STOP_WITHIN) -> None:
    """Cancel the running tasks and wait (bounded) for them; the first error one ended with is raised.

    Cancellation is repeated: a library that swallows one (nats-py while connecting, psycopg while
    waiting for notifies) must not keep a process, and so a shutdown or a test teardown, hanging.
    """
    ordered = [t for t in tasks if not t.done()]  # already finished ones are the caller's to report
    pending = set(ordered)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_EVERY, deadline - loop.time()))
    for task in pending:
        log.warning("process %s did not stop within %.0fs; leaving it behind", task.get_name(), within)
    for task in ordered:
        if task.done():
            with suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def running(names: Iterable[str], settings: Settings, resources: Resources) -> AsyncIterator[None]:
    """The named processes in background tasks for the block (tests, embedding); errors surface at exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(list(names), settings, resources, stop))
    try:
        yield
    finally:
        stop.set()
        await task
