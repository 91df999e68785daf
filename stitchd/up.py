"""`stitchd up` and single-process start-up: resolve servers (embedded unless *_URL), prepare, serve.

Embedded default: PostgreSQL from the pgserver wheel in <data>/pg (it stops when this process exits),
nats-server with JetStream in <data>/nats on STITCHD_NATS_PORT (4222), chdb in <data>/chdb. Start-up
failures the operator can fix (port taken, server down, bad setting) end as one line and exit code 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import nats
import psycopg

from stitchd.embedded import EmbeddedStartError, NatsProcess, port_in_use, start_nats, start_postgres
from stitchd.jetstream import ensure_streams
from stitchd.logging import redact
from stitchd.migrate import migrate
from stitchd.nats_config import NatsTls
from stitchd.processes import PROCESSES, ProcessExitedError, Resources, admin_port_of, serve
from stitchd.settings import Settings, SettingsError

READY_WITHIN = 60.0  # how long `up` waits for listeners before saying ready anyway
SHUTDOWN_WITHIN = 10.0  # how long stray tasks get to honour cancellation
SIGNALS = (signal.SIGINT, signal.SIGTERM)
log = logging.getLogger("stitchd")


class StartError(RuntimeError):
    """A server could not be reached or prepared; the message is one line for the operator."""


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL under the data directory (started or reused)."""
    if settings.database_url:
        return settings.database_url
    with warnings.catch_warnings():
        # platformdirs (via pgserver) warns about an unset XDG_RUNTIME_DIR; it falls back correctly
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        return start_postgres(settings.data_dir.resolve() / "pg")


def clickhouse_url(settings: Settings) -> str:
    """CLICKHOUSE_URL, or embedded chdb under the data directory."""
    return settings.clickhouse_url or f"chdb://{settings.data_dir.resolve() / 'chdb'}"


@contextmanager
def servers(settings: Settings) -> Iterator[Resources]:
    """Resolved server URLs for the block; an embedded nats-server is stopped at its end."""
    port = settings.nats_port
    if settings.nats_url is None and port_in_use(port):  # fail before starting anything
        raise EmbeddedStartError(
            f"port {port} for nats-server is already in use (set STITCHD_NATS_PORT or NATS_URL)"
        )
    db = database_url(settings)
    nats_proc: NatsProcess | None = None
    if settings.nats_url is None:
        nats_proc = start_nats(settings.data_dir.resolve() / "nats", port, tls=_nats_tls(settings))
    try:
        yield Resources(db, settings.nats_url or _url(nats_proc), clickhouse_url(settings))
    finally:
        if nats_proc is not None:
            nats_proc.stop()


def _nats_tls(settings: Settings) -> NatsTls | None:
    if settings.nats_tls_cert is None or settings.nats_tls_key is None:
        return None
    return NatsTls(settings.nats_tls_cert, settings.nats_tls_key)


def _url(proc: NatsProcess | None) -> str:
    assert proc is not None
    return proc.url


async def prepare(resources: Resources) -> list[str]:
    """Apply migrations and JetStream stream definitions (both idempotent); return migrations applied."""
    try:
        applied = await migrate(resources.database_url)
    except psycopg.OperationalError as exc:
        raise StartError(
            f"PostgreSQL at {redact(resources.database_url)} is unreachable: {_line(exc)}"
        ) from None
    try:
        nc = await nats.connect(resources.nats_url, connect_timeout=5, max_reconnect_attempts=1)
    except (OSError, nats.errors.Error) as exc:
        raise StartError(f"NATS at {redact(resources.nats_url)} is unreachable: {_line(exc)}") from None
    try:
        await ensure_streams(nc.jetstream())
    finally:
        await nc.close()
    return applied


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def run_processes(
    names: Sequence[str], settings: Settings, resources: Resources, out: TextIO, *, embedded: bool
) -> None:
    """Prepare, serve, say ready once every listener accepts, and stop on SIGINT/SIGTERM."""
    await prepare(resources)
    _announce(names, settings, resources, out, embedded=embedded)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(serve(names, settings, resources, stop))
    try:
        await _until_ready(names, settings, serving)
        if not serving.done():
            print("stitchd: ready (Ctrl-C or SIGTERM stops)", file=out, flush=True)
        await serving
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
    print("stitchd: stopped", file=out, flush=True)


async def _until_ready(names: Sequence[str], settings: Settings, serving: asyncio.Task[None]) -> None:
    """Wait until every process's ready port accepts (bounded), or serving has ended."""
    ports = [spec.ready_port(settings) for spec in (PROCESSES[n] for n in names) if spec.ready_port]
    deadline = time.monotonic() + READY_WITHIN
    while not serving.done() and not all(port_in_use(p) for p in ports):
        if time.monotonic() > deadline:
            log.warning("ports %s still not accepting after %ss; carrying on", ports, READY_WITHIN)
            return
        await asyncio.sleep(0.1)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Like asyncio.run, but a task that ignores cancellation cannot hang the shutdown."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(_drain(SHUTDOWN_WITHIN))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


async def _drain(within: float) -> None:
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=within)
        if pending:
            log.warning("%d task(s) ignored cancellation for %ss: %s", len(pending), within, pending)


def _announce(
    names: Sequence[str], settings: Settings, resources: Resources, out: TextIO, *, embedded: bool
) -> None:
    def origin(external: str | None) -> str:
        return "" if external else "  (embedded)"

    if embedded:
        print(f"stitchd up: data directory {settings.data_dir.resolve()}", file=out)
    print(f"  postgres    {redact(resources.database_url)}{origin(settings.database_url)}", file=out)
    print(f"  nats        {redact(resources.nats_url)}{origin(settings.nats_url)}", file=out)
    print(f"  clickhouse  {redact(resources.clickhouse_url)}{origin(settings.clickhouse_url)}", file=out)
    for name in names:
        listens = PROCESSES[name].listens
        print(f"  {name:<11} {listens(settings) if listens else 'running'}", file=out)
        admin = admin_port_of(settings, name)
        if admin is not None:
            print(
                f"  {'':<11} probes{' and /metrics' if settings.enable_metrics else ''} on :{admin}", file=out
            )
    out.flush()


def main(
    names: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None, out: TextIO | None = None
) -> int:
    """Run the named processes (all registered ones for `stitchd up`); 0 on a clean stop, 1 on failure."""
    environ = os.environ if env is None else env
    chosen = list(PROCESSES) if names is None else list(names)
    try:
        settings = Settings.from_env(environ)
        if names is not None:
            _require_urls(settings, chosen)
        with servers(settings) as resources:
            stream = out or sys.stdout
            run_loop(run_processes(chosen, settings, resources, stream, embedded=names is None))
    except (EmbeddedStartError, SettingsError, StartError, ProcessExitedError) as exc:
        print(f"stitchd: {redact(str(exc))}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed (servers starting)
        print("stitchd: interrupted", file=sys.stderr, flush=True)
        return 130
    return 0


def _require_urls(settings: Settings, names: Sequence[str]) -> None:
    """A single process joins existing servers; only `stitchd up` starts embedded ones."""
    missing = [
        n for n, v in [("DATABASE_URL", settings.database_url), ("NATS_URL", settings.nats_url)] if not v
    ]
    if missing:
        what = " and ".join(missing)
        raise SettingsError(f"stitchd {' '.join(names)} needs {what} (`stitchd up` runs everything embedded)")
