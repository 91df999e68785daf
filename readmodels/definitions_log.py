"""Keeping a DefinitionsCache current: a read-only event log over Postgres and the JetStream follower.

The follower subscribes to STITCHD_EVENTS with an ordered consumer (new messages only) *before* the
initial catch-up, so nothing falls between the two. A pushed event that is exactly the next position is
folded straight from the message; anything else (a gap, a restart of the consumer, a relay behind)
triggers a `read_all` catch-up from Postgres, which is the truth. A quiet subscription still polls the
log every `poll_interval` seconds, so a NATS outage delays changes but never loses them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy
from psycopg_pool import AsyncConnectionPool

from readmodels.db import connection
from readmodels.definitions import DefinitionsCache, EventLog

log = logging.getLogger("stitchd.definitions")

EVENTS_SUBJECT = "stitchd.events.>"
EVENTS_STREAM = "STITCHD_EVENTS"
DEFAULT_POLL_INTERVAL = 1.0


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a stored event (or of the JetStream envelope, docs/messaging.md) the cache reads."""

    position: int
    type: str
    data: bytes


class _Envelope(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    type: str
    data: msgspec.Raw


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def decode_envelope(body: bytes) -> StoredEvent:
    """A STITCHD_EVENTS message body as a StoredEvent (the event JSON kept as bytes)."""
    envelope = _ENVELOPE.decode(body)
    return StoredEvent(position=envelope.position, type=envelope.type, data=bytes(envelope.data))


class PostgresEventLog:
    """A read-only `read_all` over the `events` table, for processes that hold no event store."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def read_all(self, after_position: int, limit: int = 1000) -> list[StoredEvent]:
        """Events with position > after_position, in position order."""
        async with connection(self._pool) as conn:
            cursor = await conn.execute(
                "SELECT position, type, data::text FROM events"
                " WHERE position > %s ORDER BY position LIMIT %s",
                (after_position, limit),
            )
            rows = await cursor.fetchall()
        return [StoredEvent(position=p, type=t, data=d.encode()) for p, t, d in rows]


async def follow(
    cache: DefinitionsCache,
    events: EventLog,
    *,
    nats_url: str | None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    ready: asyncio.Event | None = None,
) -> None:
    """Keep `cache` current until cancelled; sets `ready` after the initial catch-up."""
    if nats_url is None:
        await _poll(cache, events, poll_interval, ready)
        return
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            EVENTS_SUBJECT, stream=EVENTS_STREAM, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        await cache.catch_up(events)
        if ready is not None:
            ready.set()
        while True:
            try:
                msg = await sub.next_msg(timeout=poll_interval)
            except NatsTimeout:
                await cache.catch_up(events)
                continue
            await cache.apply_next(decode_envelope(msg.data), events)
    finally:
        await nc.close()


async def start_following(
    cache: DefinitionsCache,
    events: EventLog,
    *,
    nats_url: str | None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> asyncio.Task[None]:
    """Start `follow` in a task and return it once the initial catch-up is done (or raise its error)."""
    ready = asyncio.Event()
    task = asyncio.create_task(
        follow(cache, events, nats_url=nats_url, poll_interval=poll_interval, ready=ready),
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
    cache: DefinitionsCache, events: EventLog, poll_interval: float, ready: asyncio.Event | None
) -> None:
    await cache.catch_up(events)
    if ready is not None:
        ready.set()
    while True:
        await asyncio.sleep(poll_interval)
        await cache.catch_up(events)
