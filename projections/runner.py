"""The projection runner: JetStream wakes it, Postgres is the truth, one transaction per applied range.

For each fetched batch of STITCHD_EVENTS messages the runner takes the highest `Stitchd-Position` and,
in one Postgres transaction, locks the checkpoint, reads the events in (checkpoint, position] from the
`events` table, applies them in order, saves the checkpoint and NOTIFYs; it commits, then acks. Reading
the range from the store (not the message bodies) makes in-order processing, redelivery, positions
that JetStream lost to retention and a cold start one code path. On error it rolls back, acks nothing,
logs the failing position and retries with backoff one event per transaction (so everything before the
failure is kept), never skipping it; with `max_attempts` set it gives up by raising ProjectionError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import psycopg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from projections.recorded import Projection
from projections.store import (
    apply_events,
    checkpoint_name,
    ensure_checkpoint,
    head_position,
    lock_checkpoint,
    read_checkpoint,
    read_range,
    save_checkpoint,
)
from readmodels.db import wait_for_position
from readmodels.positions import parse_position

__all__ = ["ProjectionError", "ProjectionRunner", "RunnerOptions", "run_projector", "wait_for_position"]

EVENTS_STREAM = "STITCHD_EVENTS"  # == stitchd.jetstream.EVENTS_STREAM (projections may not import stitchd)
EVENTS_SUBJECTS = "stitchd.events.>"
POSITION_HEADER = "Stitchd-Position"
log = logging.getLogger("stitchd.projections")


class ProjectionError(RuntimeError):
    """A projection kept failing at one position; its checkpoint stays before that event."""


@dataclass(frozen=True)
class RunnerOptions:
    """Tuning knobs; `max_attempts=None` retries a failing event forever (the production default)."""

    batch: int = 200
    chunk: int = 500
    fetch_timeout: float = 1.0
    max_ack_pending: int = 1000
    ack_wait: float = 60.0
    max_attempts: int | None = None
    backoff_initial: float = 0.2
    backoff_max: float = 30.0


def consumer_name(projection: Projection) -> str:
    """The durable JetStream consumer of a projection."""
    return f"proj_{projection.NAME}"


class ProjectionRunner:
    """Runs one projection from its durable pull consumer until cancelled."""

    def __init__(
        self,
        projection: Projection,
        *,
        database_url: str,
        js: JetStreamContext,
        options: RunnerOptions | None = None,
        stream: str = EVENTS_STREAM,
    ) -> None:
        self.projection = projection
        self.options = options or RunnerOptions()
        self._database_url = database_url
        self._js = js
        self._stream = stream
        self._name = checkpoint_name(projection)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def run(self) -> None:
        """Consume, apply and ack until cancelled (or ProjectionError when attempts run out)."""
        sub = await self._subscribe()
        try:
            conn = await self._connection()
            await ensure_checkpoint(conn, self._name)
            # Messages a killed predecessor fetched stay unacked until ack_wait: start from the store.
            await self._apply_with_retry(await head_position(conn))
            while True:
                msgs = await self._fetch(sub)
                if msgs:
                    await self._handle(msgs)
        finally:
            await self._close()
            with contextlib.suppress(nats.errors.Error):  # the connection may already be gone
                await sub.unsubscribe()

    async def checkpoint(self) -> int:
        """The projection's current checkpoint."""
        return await read_checkpoint(await self._connection(), self._name)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=self.options.max_ack_pending,
            ack_wait=self.options.ack_wait,
        )
        durable = consumer_name(self.projection)
        js = self._js
        return await js.pull_subscribe(EVENTS_SUBJECTS, durable=durable, stream=self._stream, config=config)

    async def _fetch(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        """The next batch; empty on timeout or while NATS reconnects (a closed connection raises)."""
        fetching = asyncio.ensure_future(sub.fetch(self.options.batch, timeout=self.options.fetch_timeout))
        try:
            await asyncio.wait({fetching})
        except asyncio.CancelledError:
            # nats-py's fetch can swallow a cancellation (its inner wait_for on 3.11): never wait on it
            fetching.cancel()
            fetching.add_done_callback(_retrieve)
            raise
        try:
            return fetching.result()
        except TimeoutError:  # nats raises its own subclass or the builtin, depending on the path
            return []
        except nats.errors.ConnectionClosedError:
            raise
        except nats.errors.Error as exc:
            log.warning("projection %s: fetch failed (%s); retrying", self.projection.NAME, exc)
            await asyncio.sleep(self.options.backoff_initial)
            return []

    async def _handle(self, msgs: Sequence[Msg]) -> None:
        carried = [(m, p) for m, p in [(m, await _position(m)) for m in msgs] if p is not None]
        if carried:
            await self._apply_with_retry(max(p for _, p in carried))
        for msg, _ in carried:
            await _ack(msg)

    async def _apply_with_retry(self, target: int) -> None:
        attempt = 0
        while True:
            try:
                await self._apply_upto(target, chunk=1 if attempt else self.options.chunk)
                return
            except Exception as exc:  # any failure stops progress: logged, retried, never skipped
                attempt += 1
                await self._on_failure(exc, attempt)

    async def _on_failure(self, exc: BaseException, attempt: int) -> None:
        """Log, drop the connection (it may be broken) and back off; give up after max_attempts."""
        position = await self._safe_checkpoint()
        log.error(
            "projection %s failed after position %s (attempt %d): %s",
            self.projection.NAME,
            position,
            attempt,
            exc,
            exc_info=exc,
        )
        await self._close()
        limit = self.options.max_attempts
        if limit is not None and attempt >= limit:
            name = self.projection.NAME
            raise ProjectionError(f"projection {name} stopped after position {position}") from exc
        delay = min(self.options.backoff_initial * 2 ** (attempt - 1), self.options.backoff_max)
        await asyncio.sleep(delay)

    async def _apply_upto(self, target: int, *, chunk: int) -> None:
        """Apply every stored event up to `target`, one transaction per chunk."""
        conn = await self._connection()
        while True:
            async with conn.transaction():
                checkpoint = await lock_checkpoint(conn, self._name)
                if checkpoint >= target:
                    return
                events = await read_range(conn, checkpoint, target, chunk)
                if not events:
                    raise LookupError(f"position {target} is in {self._stream} but not in the events table")
                await apply_events(conn, self.projection, events)
                await save_checkpoint(conn, self._name, events[-1].position)

    async def _safe_checkpoint(self) -> int | str:
        try:
            return await read_checkpoint(await self._connection(), self._name)
        except psycopg.Error:
            return "?"

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._database_url, autocommit=True, prepare_threshold=None
            )
        return self._conn

    async def _close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned fetch's outcome as seen (it no longer matters)."""
    if not task.cancelled():
        task.exception()


async def _ack(msg: Msg) -> None:
    """Ack after commit; a lost ack only means a redelivery, which the checkpoint skips."""
    try:
        await msg.ack()
    except nats.errors.Error as exc:
        log.warning("ack of %s failed (%s); it will be redelivered and skipped", msg.subject, exc)


async def _position(msg: Msg) -> int | None:
    """The store position a message carries; a message without one is not a store event: terminate it."""
    position = parse_position((msg.headers or {}).get(POSITION_HEADER))
    if position is not None:
        return position
    log.error("message on %s has no %s header; terminated", msg.subject, POSITION_HEADER)
    await msg.term()
    return None


async def run_projector(
    database_url: str,
    nats_url: str,
    projections: Sequence[Projection],
    options: RunnerOptions | None = None,
) -> None:
    """Run every projection's runner concurrently until cancelled (the `stitchd projector` process)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        async with asyncio.TaskGroup() as group:
            for projection in projections:
                runner = ProjectionRunner(projection, database_url=database_url, js=js, options=options)
                group.create_task(runner.run(), name=f"projection:{projection.NAME}")
    finally:
        await nc.close()
