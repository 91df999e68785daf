"""Operability wiring for the processes `stitchd.processes` runs itself (relay, projector): a small
Postgres pool shared by the readiness check and the lag sampler, and the process's admin server.

Lags are store positions: relay lag = head - the relay's cursor; projection lag = head - checkpoint.
They are sampled every `LAG_EVERY` seconds rather than on scrape, so /metrics never waits on Postgres.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from domain.envelope import HEAD_POSITION
from readmodels.db import CHECKPOINT_PREFIX
from telemetry import metrics
from telemetry.admin import admin_server
from telemetry.probes import Probes

log = logging.getLogger("stitchd.ops")
LAG_EVERY = 5.0
RELAY_CHECKPOINT = "relay"  # commands.relay.CHECKPOINT

LagSink = Callable[[int, dict[str, int]], None]


async def postgres_ok(pool: AsyncConnectionPool[Any]) -> None:
    """Raises unless a pooled connection answers `SELECT 1`."""
    async with pool.connection(timeout=2.0) as conn:
        await conn.execute("SELECT 1")


def postgres_check(pool: AsyncConnectionPool[Any]) -> Callable[[], Any]:
    async def check() -> None:
        await postgres_ok(pool)

    return check


async def positions(pool: AsyncConnectionPool[Any], names: Sequence[str]) -> tuple[int, dict[str, int]]:
    """(store head, {checkpoint name: position}) for the names (missing rows count as 0)."""
    async with pool.connection() as conn:
        head_row = await (await conn.execute(HEAD_POSITION)).fetchone()
        rows = await (
            await conn.execute("SELECT name, position FROM checkpoints WHERE name = ANY(%s)", (list(names),))
        ).fetchall()
    found = {str(name): int(pos) for name, pos in rows}
    return int(head_row[0]) if head_row else 0, {n: found.get(n, 0) for n in names}


async def sample_lag(pool: AsyncConnectionPool[Any], names: Sequence[str], sink: LagSink) -> None:
    """Sample positions every LAG_EVERY seconds until cancelled (errors are logged, sampling goes on)."""
    while True:
        try:
            head, cursors = await positions(pool, names)
            sink(head, cursors)
        except (psycopg.Error, OSError) as exc:
            log.warning("lag sample failed: %s", exc)
        await asyncio.sleep(LAG_EVERY)


def relay_lag(head: int, cursors: dict[str, int]) -> None:
    metrics.set_relay_lag(max(0, head - cursors[RELAY_CHECKPOINT]))


def projection_lag(head: int, cursors: dict[str, int]) -> None:
    for name, position in cursors.items():
        metrics.set_projection_lag(name.removeprefix(CHECKPOINT_PREFIX), max(0, head - position))


@asynccontextmanager
async def operable(
    database_url: str,
    *,
    admin_port: int | None,
    serve_metrics: bool,
    checkpoints: Sequence[str],
    lag: LagSink,
) -> AsyncIterator[Probes]:
    """For the block: a 1-connection pool, the lag sampler and the admin server over the Probes yielded
    (the caller adds its own checks, e.g. that its work loop is still running)."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
    )
    probes = Probes()
    probes.add("postgres", postgres_check(pool))
    sampler: asyncio.Task[None] | None = None
    try:
        await pool.open(wait=False)
        if serve_metrics:
            sampler = asyncio.create_task(sample_lag(pool, checkpoints, lag), name="lag-sampler")
        async with admin_server(probes, port=admin_port, serve_metrics=serve_metrics):
            yield probes
    finally:
        if sampler is not None:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        await pool.close()
