"""Durable JetStream pull consumer: STITCHD_INGEST -> ClickHouse in batches, acked only after the insert.

At-least-once by construction: a batch is acked only once the sink has stored it; a crash before the
acks makes JetStream redeliver after `ack_wait`. The ClickHouse tables de-duplicate by identity, so
redelivery is harmless and the result is effectively once. The poison policy (DESIGN section 13):

- a message that does not decode (garbage, a number outside its column) goes to STITCHD_DLQ at once;
- a row ClickHouse refuses: the batch is bisected, the refused rows are dead-lettered, the rest stored;
- a batch refused as a whole (say its table is missing) is naked with back-off, so each try counts
  towards `max_deliver`; on its last delivery a message is dead-lettered instead of dropped;
- ClickHouse unreachable: the batch is kept and retried in process, marked `in_progress`, so JetStream
  neither redelivers nor counts it: an outage of any length loses nothing and dead-letters nothing.

Any other error is logged and the loop goes on after a back-off; only cancellation ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from schemas.dead_letters import dead_letter, original_of
from schemas.ingest import EXPOSURE_KIND, INGEST_STREAM, METRIC_KIND, SUBJECT_FILTER, kind_filter, kind_of
from stats_worker.batches import DecodedBatch, decode_batch, identity, store_isolating
from stats_worker.sink import IngestSink, SinkUnavailableError
from telemetry import metrics

DURABLE: Final = "stats-worker"
MAX_DELIVER: Final = 10

_CLICKHOUSE_CODE: Final = re.compile(r"\(([A-Z][A-Z0-9_]{2,})\)")
log = logging.getLogger(__name__)


def consumer_config(
    *,
    durable: str = DURABLE,
    ack_wait: float = 30.0,
    max_ack_pending: int = 20_000,
    max_deliver: int = MAX_DELIVER,
) -> ConsumerConfig:
    """The durable pull consumer over metric and exposure subjects, explicit acks, bounded redelivery."""
    return ConsumerConfig(
        durable_name=durable,
        # Only the kinds this version understands: a kind added later waits in the stream for a worker
        # that knows it, instead of being dead-lettered here as undecodable.
        filter_subjects=[kind_filter(METRIC_KIND), kind_filter(EXPOSURE_KIND)],
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
    )


@dataclass
class ConsumerSettings:
    """Batch size, fetch wait, and the retry back-off after a failure (seconds)."""

    batch_size: int = 1000
    fetch_timeout: float = 1.0
    retry_delay: float = 1.0
    max_retry_delay: float = 30.0
    config: ConsumerConfig = field(default_factory=consumer_config)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _summary(reason: str) -> str:
    """What a log line may say of a reason: our prefix and ClickHouse's error name, never its text,
    which may quote row values (the dead letter keeps the whole reason)."""
    codes = _CLICKHOUSE_CODE.findall(reason)  # ClickHouse ends its message with the error's name
    return reason.split(":")[0] + (f" {codes[-1]}" if codes else "")


async def _quietly(action: Awaitable[object], what: str) -> None:
    """Ack, nak or in_progress; a lost one only means a redelivery, which de-duplication absorbs."""
    try:
        await action
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("%s of an ingest message failed (%s); JetStream will redeliver it", what, exc)


class IngestConsumer:
    """Fetch, decode, insert, then ack; one batch at a time."""

    def __init__(
        self, js: JetStreamContext, sink: IngestSink, settings: ConsumerSettings | None = None
    ) -> None:
        self._js = js
        self._sink = sink
        self._settings = settings or ConsumerSettings()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._failures = 0
        self._held: DecodedBatch | None = None  # a batch waiting for ClickHouse to come back
        self.dead_lettered = 0

    @property
    def name(self) -> str:
        """The durable consumer's name, which its dead letters carry."""
        return self._settings.config.durable_name or DURABLE

    @property
    def max_deliver(self) -> int | None:
        limit = self._settings.config.max_deliver
        return limit if limit is not None and limit > 0 else None

    async def _subscription(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            config = self._settings.config
            # add_consumer creates the durable or updates an existing one (an older max_deliver, say)
            await self._js.add_consumer(INGEST_STREAM, config)
            self._sub = await self._js.pull_subscribe(
                SUBJECT_FILTER, durable=config.durable_name, stream=INGEST_STREAM
            )
        return self._sub

    async def _fetch(self) -> list[Msg]:
        sub = await self._subscription()
        try:
            return await sub.fetch(self._settings.batch_size, timeout=self._settings.fetch_timeout)
        except (NatsTimeoutError, TimeoutError):
            # nats-py raises its own TimeoutError when idle, and sometimes a bare asyncio one when the
            # deadline passes during the lingering pull: either way nothing was taken.
            return []

    async def process_once(self) -> int:
        """Handle one batch; returns how many messages were stored (0 when idle or on failure)."""
        batch = self._held
        if batch is None:
            batch = decode_batch(await self._fetch())
            for msg, reason in batch.bad:
                await self._dead_letter(msg, reason)
            if not batch.rows:
                return 0
        return await self._store(batch)

    async def _store(self, batch: DecodedBatch) -> int:
        try:
            refused = await asyncio.to_thread(store_isolating, self._sink, batch.metrics(), batch.exposures())
        except SinkUnavailableError as exc:
            return await self._hold(batch, exc)
        self._held = None
        if len(refused) == len(batch.rows):
            return await self._refused_entirely(batch, refused[0][1])
        self._failures = 0
        reasons = {identity(row): reason for row, reason in refused}
        stored = 0
        for key, msgs in batch.carriers.items():
            for msg in msgs:
                if key in reasons:
                    await self._dead_letter(msg, f"refused by ClickHouse: {reasons[key]}")
                else:
                    await _quietly(msg.ack(), "ack")
                    stored += 1
        for key, row in batch.rows.items():
            if key not in reasons:
                metrics.count_ingest(kind_of(row), "stored")
        return stored

    async def _hold(self, batch: DecodedBatch, exc: Exception) -> int:
        """ClickHouse is unreachable: keep the batch for the next try, its messages marked in progress."""
        self._held = batch
        self._failures += 1
        delay = min(self.retry_delay(), self._ack_wait() / 2)
        log.warning("ClickHouse unavailable (%s); %d messages retry in %.1fs", exc, len(batch.good), delay)
        for msg in batch.good:
            await _quietly(msg.in_progress(), "in_progress")
        await asyncio.sleep(delay)
        return 0

    async def _refused_entirely(self, batch: DecodedBatch, reason: str) -> int:
        """Nothing was stored, so the store itself may be at fault: nak with back-off (a delivery counts);
        a message on its last delivery is dead-lettered instead."""
        self._failures += 1
        delay = self.retry_delay()
        log.warning("ClickHouse refused a whole batch (%s); retrying in %.1fs", _summary(reason), delay)
        limit = self.max_deliver
        for msg in batch.good:
            if limit is not None and original_of(msg).deliveries >= limit:
                await self._dead_letter(msg, f"refused by ClickHouse on its last delivery: {reason}")
            else:
                await _quietly(msg.nak(delay=delay), "nak")
        await asyncio.sleep(delay)
        return 0

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        """To STITCHD_DLQ, then ack; if the dead letter cannot be stored the message stays unacked."""
        original = original_of(msg)
        try:
            await dead_letter(self._js, original, msg.data, consumer=self.name, reason=reason, at_ms=now_ms())
        except (nats.errors.Error, TimeoutError) as exc:
            log.error(
                "could not dead-letter %s #%d (%s); it will be redelivered",
                msg.subject,
                original.sequence,
                exc,
            )
            return
        self.dead_lettered += 1
        metrics.count_dead_lettered(
            EXPOSURE_KIND if msg.subject.endswith("." + EXPOSURE_KIND) else METRIC_KIND
        )
        log.warning("dead-lettered %s #%d (%s)", msg.subject, original.sequence, _summary(reason))
        await _quietly(msg.ack(), "ack")

    def _ack_wait(self) -> float:
        return float(self._settings.config.ack_wait or 30.0)

    def retry_delay(self) -> float:
        """Exponential back-off after consecutive failures, capped."""
        s = self._settings
        return float(min(s.retry_delay * 2 ** max(self._failures - 1, 0), s.max_retry_delay))

    async def run(self) -> None:
        """Consume until cancelled; an unexpected error is logged and the loop goes on after a back-off."""
        while True:
            try:
                await self.process_once()
            except Exception:  # the poison policy: nothing but cancellation ends the loop
                self._failures += 1
                delay = self.retry_delay()
                log.exception("stats ingest: unexpected error; going on in %.1fs", delay)
                await self._drop_subscription()
                await asyncio.sleep(delay)

    async def _drop_subscription(self) -> None:
        """Subscribe afresh next time (the durable may have been deleted or the connection replaced)."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def close(self) -> None:
        """Drop the subscription; unacked messages return to the stream after `ack_wait`."""
        await self._drop_subscription()
