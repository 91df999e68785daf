"""Keeping a DefinitionsCache current: a read-only event log over Postgres and the JetStream follower.

The follower subscribes to STITCHD_EVENTS with an ordered consumer (new messages only) *before* the
initial catch-up, so nothing falls between the two. A pushed message is only a wake-up: its
`Stitchd-Position` header, when beyond the cache, triggers a `read_all` catch-up from Postgres, which is
the truth; its body is never folded (as the projector does), so whoever can publish on the bus cannot
forge an event (an SDK key, a flag) into the cache. A message without a valid position is logged,
counted and skipped; a database error is logged and retried. A quiet subscription still polls the log
every `poll_interval` seconds, so a NATS outage delays changes but never loses them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import nats
import psycopg
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy
from psycopg_pool import AsyncConnectionPool, PoolClosed

from domain.envelope import (
    EVENTS_STREAM,
    EVENTS_SUBJECTS,
    POSITION_HEADER,
    READ_AFTER,
    RecordedEvent,
    recorded_from_row,
)
from readmodels.db import connection
from readmodels.definitions import DefinitionsCache, EventLog
from readmodels.positions import parse_position

log = logging.getLogger("stitchd.definitions")

DEFAULT_POLL_INTERVAL = 1.0


@dataclass
class FollowerStats:
    """What a follower saw: wake-ups that led to a catch-up, messages it ignored, database errors."""

    wakeups: int = 0
    ignored: int = 0
    errors: int = 0


class PostgresEventLog:
    """A read-only `read_all` over the `events` table, for processes that hold no event store."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def read_all(self, after_position: int, limit: int = 1000) -> list[RecordedEvent]:
        """Events with position > after_position, in position order."""
        async with connection(self._pool) as conn:
            cursor = await conn.execute(READ_AFTER, (after_position, limit))
            rows = await cursor.fetchall()
        return [recorded_from_row(row) for row in rows]


async def follow(
    cache: DefinitionsCache,
    events: EventLog,
    *,
    nats_url: str | None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    ready: asyncio.Event | None = None,
    stats: FollowerStats | None = None,
) -> None:
    """Keep `cache` current until cancelled; sets `ready` after the initial catch-up."""
    stats = stats if stats is not None else FollowerStats()
    if nats_url is None:
        await _poll(cache, events, poll_interval, ready, stats)
        return
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            EVENTS_SUBJECTS, stream=EVENTS_STREAM, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        await cache.catch_up(events)
        if ready is not None:
            ready.set()
        while True:
            try:
                msg = await sub.next_msg(timeout=poll_interval)
            except NatsTimeout:
                await _catch_up(cache, events, stats, poll_interval)
                continue
            if _wakes(msg, cache, stats):
                await _catch_up(cache, events, stats, poll_interval)
    finally:
        await nc.close()


def _wakes(msg: Msg, cache: DefinitionsCache, stats: FollowerStats) -> bool:
    """Whether a pushed message announces a position the cache has not folded (its body is ignored)."""
    position = parse_position((msg.headers or {}).get(POSITION_HEADER))
    if position is None:
        stats.ignored += 1
        log.warning(
            "definitions follower: a message on %s has no valid %s; ignored", msg.subject, POSITION_HEADER
        )
        return False
    if position <= cache.position:
        return False
    stats.wakeups += 1
    return True


async def _catch_up(cache: DefinitionsCache, events: EventLog, stats: FollowerStats, pause: float) -> None:
    """Catch up from the log; a database error is the world's fault: logged, retried at the next wake."""
    try:
        await cache.catch_up(events)
    except PoolClosed:
        raise  # the process is shutting down (or its owner closed the pool): this follower is done
    except psycopg.OperationalError as exc:
        stats.errors += 1
        log.warning("definitions follower: cannot read the event log (%s); retrying", exc)
        await asyncio.sleep(pause)


async def start_following(
    cache: DefinitionsCache,
    events: EventLog,
    *,
    nats_url: str | None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    stats: FollowerStats | None = None,
) -> asyncio.Task[None]:
    """Start `follow` in a task and return it once the initial catch-up is done (or raise its error)."""
    ready = asyncio.Event()
    task = asyncio.create_task(
        follow(cache, events, nats_url=nats_url, poll_interval=poll_interval, ready=ready, stats=stats),
        name="definitions-follower",
    )
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait((waiter, task), return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        task.result()  # raises the follower's error
        raise RuntimeError("the definitions follower stopped before its first catch-up")
    return task


async def _poll(
    cache: DefinitionsCache,
    events: EventLog,
    poll_interval: float,
    ready: asyncio.Event | None,
    stats: FollowerStats,
) -> None:
    await cache.catch_up(events)
    if ready is not None:
        ready.set()
    while True:
        await asyncio.sleep(poll_interval)
        await _catch_up(cache, events, stats, poll_interval)
