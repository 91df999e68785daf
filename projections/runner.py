"""The projection runner: JetStream wakes it, Postgres is the truth, one transaction per applied range.

For each fetched batch of STITCHD_EVENTS messages the runner takes the highest `Stitchd-Position` and,
in one Postgres transaction, locks the checkpoint, reads the events in (checkpoint, position] from the
`events` table, applies them in order, saves the checkpoint and NOTIFYs; it commits, then acks. Reading
the range from the store (not the message bodies) makes in-order processing, redelivery, positions
that JetStream lost to retention and a cold start one code path. On error it rolls back, acks nothing,
logs the failing position and retries with backoff one event per transaction (so everything before the
failure is kept). The poison policy (projections/poison.py): an event that fails `max_attempts` times
for a reason of its own is dead-lettered and the checkpoint moves past it in the same transaction;
without `DeadLetters` (tests) the runner stops there instead, raising ProjectionError. PostgreSQL being
unreachable is waited out forever. Nothing else ends the loop. When a fetch comes back empty the runner
catches up with the store anyway, so a wake-up JetStream dropped (`max_deliver`) delays nothing for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import psycopg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from domain.envelope import EVENTS_STREAM, EVENTS_SUBJECTS, POSITION_HEADER
from projections.poison import DeadLetters, caused_by_the_world
from projections.pull import ack as _ack
from projections.pull import fetch
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
from readmodels.positions import parse_event_position
from telemetry import metrics

__all__ = ["ProjectionError", "ProjectionRunner", "RunnerOptions", "wait_for_position"]

log = logging.getLogger("stitchd.projections")


class ProjectionError(RuntimeError):
    """A projection kept failing at one position; its checkpoint stays before that event."""


@dataclass(frozen=True)
class RunnerOptions:
    """Tuning knobs; an event failing `max_attempts` times (for its own reasons) is dead-lettered."""

    batch: int = 200
    chunk: int = 500
    fetch_timeout: float = 1.0
    max_ack_pending: int = 1000
    ack_wait: float = 60.0
    max_attempts: int = 5
    max_deliver: int = 20  # wake-ups only: the store is read by position, so a dropped one loses nothing
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
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.projection = projection
        self.options = options or RunnerOptions()
        self.dead_lettered = 0
        self._dead_letters = dead_letters
        self._database_url = database_url
        self._js = js
        self._stream = stream
        self._name = checkpoint_name(projection)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def run(self) -> None:
        """Consume, apply and ack until cancelled (ProjectionError without DeadLetters, see above)."""
        sub = await self._subscribe()
        try:
            # Messages a killed predecessor fetched stay unacked until ack_wait: start from the store.
            await self._guarded(self._start)
            while True:
                msgs = await fetch(sub, self.options.batch, self.options.fetch_timeout, self.projection.NAME)
                # Idle: catch up from the store anyway; a wake-up lost (max_deliver) costs one wait.
                step = functools.partial(self._handle, msgs) if msgs else self._catch_up
                await self._guarded(step)
        finally:
            await self._close()
            with contextlib.suppress(nats.errors.Error):  # the connection may already be gone
                await sub.unsubscribe()

    async def _start(self) -> None:
        await ensure_checkpoint(await self._connection(), self._name)
        await self._catch_up()

    async def _catch_up(self) -> None:
        conn = await self._connection()
        head = await head_position(conn)
        if head > await read_checkpoint(conn, self._name):
            await self._apply_with_retry(head)

    async def _guarded(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run a step until it completes; an unexpected error is logged and the step retried after a
        back-off (unacked messages come back after ack_wait), so only cancellation ends the loop."""
        failures = 0
        while True:
            try:
                await step()
                return
            except ProjectionError:
                raise
            except Exception as exc:  # the poison policy: log, back off, go on
                failures += 1
                await self._on_failure(exc, failures, counted=False)

    async def checkpoint(self) -> int:
        """The projection's current checkpoint."""
        return await read_checkpoint(await self._connection(), self._name)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        durable = consumer_name(self.projection)
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=EVENTS_SUBJECTS,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=self.options.max_ack_pending,
            ack_wait=self.options.ack_wait,
            max_deliver=self.options.max_deliver,
        )
        await self._js.add_consumer(self._stream, config)  # creates it, or updates an older definition
        return await self._js.pull_subscribe(EVENTS_SUBJECTS, durable=durable, stream=self._stream)

    async def _handle(self, msgs: Sequence[Msg]) -> None:
        carried: list[tuple[Msg, int]] = []
        for msg in msgs:
            position = parse_event_position((msg.headers or {}).get(POSITION_HEADER))
            if position is None:
                await self._reject(msg, f"no valid {POSITION_HEADER} header: not a store event")
            else:
                carried.append((msg, position))
        if not carried:
            return
        head = await head_position(await self._connection())
        for msg, position in carried:
            if position > head:  # published after its commit, so a real event is always <= head
                await self._reject(msg, f"position {position} is not in the events table (head {head})")
        real = [(m, p) for m, p in carried if p <= head]
        if real:
            await self._apply_with_retry(max(p for _, p in real))
        for msg, _ in real:
            await _ack(msg)

    async def _reject(self, msg: Msg, reason: str) -> None:
        """A pushed message that is not a store event: dead-lettered (or terminated), never applied."""
        log.error("projection %s: message on %s rejected: %s", self.projection.NAME, msg.subject, reason)
        if self._dead_letters is not None:
            await self._dead_letters.message(consumer_name(self.projection), msg, reason)
            self.dead_lettered += 1
            metrics.count_dead_lettered("event")
            await _ack(msg)
        else:
            with contextlib.suppress(nats.errors.Error):
                await msg.term()

    async def _apply_with_retry(self, target: int) -> None:
        attempt, world, failed = 0, 0, False
        failing_at: int | str = -1
        while True:
            try:
                await self._apply_upto(target, chunk=1 if failed else self.options.chunk)
                return
            except Exception as exc:  # any failure stops progress: logged, retried, then dead-lettered
                failed = True
                if caused_by_the_world(exc):
                    world += 1
                    await self._on_failure(exc, world, counted=False)
                    continue
                world = 0
                position = await self._safe_checkpoint()
                attempt = attempt + 1 if position == failing_at else 1
                failing_at = position
                if attempt < self.options.max_attempts:
                    await self._on_failure(exc, attempt)
                elif await self._give_up(target, exc, attempt):
                    attempt = 0

    async def _give_up(self, target: int, exc: Exception, attempts: int) -> bool:
        """Dead-letter the event after the checkpoint and move past it; False if that failed."""
        name = self.projection.NAME
        if self._dead_letters is None:
            position = await self._safe_checkpoint()
            raise ProjectionError(f"projection {name} stopped after position {position}") from exc
        try:
            skipped = await self._skip_next(target, f"{type(exc).__name__}: {exc}", attempts)
        except Exception as failure:  # NATS down, say: nothing was skipped; try again after a back-off
            await self._on_failure(failure, attempts, counted=False)
            return False
        if skipped is not None:
            self.dead_lettered += 1
            metrics.count_dead_lettered("event")
            log.error("projection %s: dead-lettered the event at position %d after %d attempts: %s",
                      name, skipped, attempts, exc)  # fmt: skip
        return True

    async def _skip_next(self, target: int, reason: str, attempts: int) -> int | None:
        """In one transaction: dead-letter the first event after the checkpoint and checkpoint it."""
        assert self._dead_letters is not None
        conn = await self._connection()
        async with conn.transaction():
            checkpoint = await lock_checkpoint(conn, self._name)
            events = await read_range(conn, checkpoint, target, 1)
            if not events:
                return None
            await self._dead_letters.event(consumer_name(self.projection), events[0], reason, attempts)
            await save_checkpoint(conn, self._name, events[0].position)
        return events[0].position

    async def _on_failure(self, exc: BaseException, attempt: int, *, counted: bool = True) -> None:
        """Log, drop the connection (it may be broken) and back off."""
        position = await self._safe_checkpoint()
        kind = "attempt" if counted else "retry"
        log.error("projection %s failed after position %s (%s %d): %s",
                  self.projection.NAME, position, kind, attempt, exc, exc_info=exc)  # fmt: skip
        await self._close()
        delay = min(self.options.backoff_initial * 2 ** min(attempt - 1, 30), self.options.backoff_max)
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
