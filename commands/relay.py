"""The outbox relay: every committed event, in position order, to JetStream (docs/messaging.md).

One relay leads at a time (a session advisory lock on its dedicated connection; others wait and retry).
The leader LISTENs on `stitchd_events`, reads events after its cursor (`checkpoints` row `relay`),
publishes each one and waits for its ack before the next, and saves the cursor after each batch of acks.
A crash between publish and cursor update republishes; JetStream drops the copies by `Nats-Msg-Id`
(the event id) within the stream's duplicate window, and on taking the lead the relay also moves its
cursor up to the position of the stream's last message when that message is this database's event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import psycopg
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from commands.db import configure_connection
from commands.event_size import NATS_MAX_PAYLOAD, max_payload_problem
from commands.eventstore import RecordedEvent
from commands.postgres_store import NOTIFY_CHANNEL, select_events
from commands.relay_publish import PublishAttempt, RelayStats
from domain.envelope import EVENTS_STREAM, MSG_ID_HEADER, POSITION_HEADER, event_subject

__all__ = ["CHECKPOINT", "RELAY_LOCK_KEY", "OutboxRelay", "RelayConfig", "RelayStats"]

log = logging.getLogger("stitchd.relay")

RELAY_LOCK_KEY = 0x57170E6  # session advisory lock held by the leading relay
CHECKPOINT = "relay"

Conn = psycopg.AsyncConnection[Any]
AfterPublish = Callable[[RecordedEvent], Awaitable[None]]
PrepareStreams = Callable[[JetStreamContext], Awaitable[None]]
SubjectOf = Callable[[str, str | None], str]


@dataclass(frozen=True, kw_only=True)
class RelayConfig:
    """Tuning knobs; the defaults suit production."""

    batch_size: int = 500
    poll_interval: float = 1.0  # fallback wake-up when a NOTIFY is missed
    leader_retry: float = 1.0  # how often a standby relay tries to take the lead
    publish_timeout: float = 2.0
    max_backoff: float = 5.0
    reconcile_on_lead: bool = True
    stream: str = EVENTS_STREAM
    subject_of: SubjectOf = event_subject


class OutboxRelay:
    """Publishes the event store to JetStream; `await run()` until cancelled or `stop()`."""

    def __init__(
        self,
        database_url: str,
        nats_url: str,
        *,
        config: RelayConfig | None = None,
        after_publish: AfterPublish | None = None,
        prepare_streams: PrepareStreams | None = None,
    ) -> None:
        """`prepare_streams` (e.g. stitchd.jetstream.ensure_streams) runs on taking the lead;
        `after_publish` runs after each ack, before the cursor moves (a test hook for crashes)."""
        self._database_url = database_url
        self._nats_url = nats_url
        self.config = config or RelayConfig()
        self._after_publish = after_publish
        self._prepare_streams = prepare_streams
        self._stopping = asyncio.Event()
        self._nc: NatsClient | None = None
        self.stats = RelayStats()

    def stop(self) -> None:
        """Ask `run()` to return after the current step (the cursor never passes an unacked event)."""
        self._stopping.set()

    async def run(self) -> None:
        """Relay until stopped; survives NATS outages and Postgres reconnects without skipping events."""
        nc = await self._connect_nats()
        if nc is None:
            return
        self._nc = nc
        if (problem := max_payload_problem(nc.max_payload)) is not None:
            log.error("%s", problem)
        try:
            while not self._stopping.is_set():
                try:
                    await self._lead_while_connected(nc.jetstream(timeout=self.config.publish_timeout))
                except psycopg.OperationalError as exc:
                    log.warning("relay lost its database connection (%s); retrying", exc)
                    await self._pause(self.config.leader_retry)
        finally:
            self.stats.leader = False
            await nc.close()

    async def _connect_nats(self) -> NatsClient | None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                return await nats.connect(
                    self._nats_url,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    error_cb=_log_nats_error,
                )
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.warning("relay cannot reach NATS (%s); retrying in %.1fs", exc, delay)
                await self._pause(delay)
                delay = min(delay * 2, self.config.max_backoff)
        return None

    async def _lead_while_connected(self, js: JetStreamContext) -> None:
        async with await psycopg.AsyncConnection.connect(self._database_url, autocommit=True) as conn:
            await configure_connection(conn)
            if not await self._take_lead(conn):
                return
            log.info("relay is the leader")
            self.stats.leader, self.stats.lead_changes = True, self.stats.lead_changes + 1
            try:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                cursor = await _load_cursor(conn)
                await self._prepare(js)
                if self.config.reconcile_on_lead:
                    cursor = await self._reconcile(conn, js, cursor)
                await self._relay_from(conn, js, cursor)
            finally:
                self.stats.leader = False

    async def _take_lead(self, conn: Conn) -> bool:
        while not self._stopping.is_set():
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,))
            row = await cur.fetchone()
            if row is not None and row[0]:
                return True
            await self._pause(self.config.leader_retry)
        return False

    async def _relay_from(self, conn: Conn, js: JetStreamContext, cursor: int) -> None:
        self.stats.cursor = cursor
        while not self._stopping.is_set():
            batch = await select_events(
                conn, "WHERE position > %s ORDER BY position LIMIT %s", (cursor, self.config.batch_size)
            )
            if not batch:
                await self._wait_for_notify(conn)
                continue
            acked = await self._publish_batch(js, batch)
            if acked:
                cursor = acked[-1].position
                await _save_cursor(conn, cursor)
                self.stats.cursor = cursor

    async def _publish_batch(self, js: JetStreamContext, batch: list[RecordedEvent]) -> list[RecordedEvent]:
        """The prefix of `batch` that JetStream acknowledged (all of it unless stopping)."""
        for i, event in enumerate(batch):
            if not await self._publish(js, event):
                return batch[:i]
            if self._after_publish is not None:
                await self._after_publish(event)
        return batch

    async def _publish(self, js: JetStreamContext, event: RecordedEvent) -> bool:
        """Publish until acked (True) or stopping (False); never skips an event (commands.relay_publish)."""
        env = event.metadata.environment_id
        subject = self.config.subject_of(event.stream_type, None if env is None else str(env))
        max_payload = NATS_MAX_PAYLOAD if self._nc is None else self._nc.max_payload
        attempt = PublishAttempt(js, event, subject, self.config.stream, max_payload, self.stats)
        delay = 0.05
        while not self._stopping.is_set():
            if await attempt.once():
                return True
            await self._pause(delay)
            delay = min(delay * 2, self.config.max_backoff)
        return False

    async def _prepare(self, js: JetStreamContext) -> None:
        if self._prepare_streams is None:
            return
        try:
            await self._prepare_streams(js)
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("relay could not prepare the streams (%r); publishing retries until they answer", exc)

    async def _reconcile(self, conn: Conn, js: JetStreamContext, cursor: int) -> int:
        """Skip what the stream already holds: its last message, if it is our event, bounds the backlog."""
        try:
            info = await js.stream_info(self.config.stream)
            if not info.state.last_seq:
                return cursor
            last = await js.get_msg(self.config.stream, seq=info.state.last_seq)
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("relay could not read the stream's tail (%r); resuming from its cursor", exc)
            return cursor
        position, event_id = _position_and_id(last.headers or {})
        if position is None or position <= cursor:
            return cursor
        found = await select_events(conn, "WHERE position = %s", (position,))
        if not found or str(found[0].event_id) != event_id:
            log.warning("the stream's last message is not this database's event %d; ignoring it", position)
            return cursor
        await _save_cursor(conn, position)
        return position

    async def _wait_for_notify(self, conn: Conn) -> None:
        """Return on a NOTIFY, after the poll interval, or at once when stopping."""
        waiter = asyncio.ensure_future(_next_notify(conn, self.config.poll_interval))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((waiter, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            waiter.cancel()
            await asyncio.wait((waiter,))
        if not waiter.cancelled() and (exc := waiter.exception()) is not None:
            raise exc

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


async def _next_notify(conn: Conn, wait_at_most: float) -> None:
    # Run each generator to its end (stop_after ends it): a generator left suspended would keep the
    # connection's lock until it is garbage-collected.
    async for _ in conn.notifies(timeout=wait_at_most, stop_after=1):
        pass
    async for _ in conn.notifies(timeout=0):
        pass  # drain the backlog: one read catches up with all of them


def _position_and_id(headers: dict[str, Any]) -> tuple[int | None, str]:
    raw = headers.get(POSITION_HEADER)
    return (int(raw) if raw is not None else None), str(headers.get(MSG_ID_HEADER, ""))


async def _load_cursor(conn: Conn) -> int:
    cur = await conn.execute("SELECT position FROM checkpoints WHERE name = %s", (CHECKPOINT,))
    row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def _save_cursor(conn: Conn, position: int) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (name, position) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
        " SET position = EXCLUDED.position, updated_at = now()"
        " WHERE checkpoints.position < EXCLUDED.position",
        (CHECKPOINT, position),
    )


async def _log_nats_error(exc: Exception) -> None:
    log.warning("NATS: %r", exc)
