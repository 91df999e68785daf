"""Durable JetStream pull consumer: STITCHD_INGEST -> ClickHouse in batches, acked only after the insert.

At-least-once by construction: a batch is acked only once the sink has stored it; a crash before the
acks makes JetStream redeliver after `ack_wait`, and a failed insert naks the batch so it comes back
after a delay. The ClickHouse tables de-duplicate by event id, so redelivery is harmless and the
result is effectively once. `max_deliver` is unlimited so a long ClickHouse outage loses nothing:
events wait in the stream (limits retention) until the sink takes them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from schemas.ingest import (
    EXPOSURE_KIND,
    METRIC_KIND,
    SUBJECT_FILTER,
    ExposureMsg,
    MetricEventMsg,
    decode,
    kind_filter,
)
from stats_worker.sink import IngestSink, SinkUnavailableError
from telemetry import metrics

INGEST_STREAM: Final = "STITCHD_INGEST"
DURABLE: Final = "stats-worker"

log = logging.getLogger(__name__)


def consumer_config(
    *, durable: str = DURABLE, ack_wait: float = 30.0, max_ack_pending: int = 20_000
) -> ConsumerConfig:
    """The durable pull consumer over metric and exposure subjects, explicit acks, unlimited redelivery."""
    return ConsumerConfig(
        durable_name=durable,
        # Only the kinds this version understands: a kind added later waits in the stream for a worker
        # that knows it, instead of being terminated here as undecodable.
        filter_subjects=[kind_filter(METRIC_KIND), kind_filter(EXPOSURE_KIND)],
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
    )


@dataclass
class DecodedBatch:
    """A fetched batch split into rows to store, the messages they came from, and undecodable ones."""

    metrics: dict[str, MetricEventMsg] = field(default_factory=dict)
    exposures: dict[str, ExposureMsg] = field(default_factory=dict)
    good: list[Msg] = field(default_factory=list)
    bad: list[Msg] = field(default_factory=list)


def decode_batch(msgs: Sequence[Msg]) -> DecodedBatch:
    """Decode by subject; duplicates within the batch collapse by event id (last wins; they are equal)."""
    batch = DecodedBatch()
    for msg in msgs:
        try:
            item = decode(msg.subject, msg.data)
        except (ValueError, msgspec.DecodeError):
            batch.bad.append(msg)
            continue
        if isinstance(item, MetricEventMsg):
            batch.metrics[item.event_id] = item
        else:
            batch.exposures[item.event_id] = item
        batch.good.append(msg)
    return batch


@dataclass
class ConsumerSettings:
    """Batch size, fetch wait, and the retry back-off after a failed insert (seconds)."""

    batch_size: int = 1000
    fetch_timeout: float = 1.0
    retry_delay: float = 1.0
    max_retry_delay: float = 30.0
    config: ConsumerConfig = field(default_factory=consumer_config)


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

    async def _subscription(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            config = self._settings.config
            self._sub = await self._js.pull_subscribe(
                SUBJECT_FILTER, durable=config.durable_name, stream=INGEST_STREAM, config=config
            )
        return self._sub

    async def process_once(self) -> int:
        """Handle one batch; returns how many messages were stored (0 when idle or on failure)."""
        sub = await self._subscription()
        try:
            msgs = await sub.fetch(self._settings.batch_size, timeout=self._settings.fetch_timeout)
        except (NatsTimeoutError, TimeoutError):
            # nats-py raises its own TimeoutError when idle, and sometimes a bare asyncio one when the
            # deadline passes during the lingering pull: either way nothing was taken.
            return 0
        batch = decode_batch(msgs)
        for msg in batch.bad:
            log.warning("dropping undecodable ingest message on %s", msg.subject)
            await msg.term()
        metrics.count_dead_lettered("undecodable", len(batch.bad))
        if not batch.good:
            return 0
        return await self._store(batch)

    async def _store(self, batch: DecodedBatch) -> int:
        try:
            await asyncio.to_thread(
                self._sink.insert, list(batch.metrics.values()), list(batch.exposures.values())
            )
        except SinkUnavailableError as exc:
            self._failures += 1
            delay = self.retry_delay()
            log.warning(
                "ClickHouse insert failed (%s); %d messages retry in %.1fs", exc, len(batch.good), delay
            )
            for msg in batch.good:
                await msg.nak(delay=delay)
            await asyncio.sleep(delay)
            return 0
        self._failures = 0
        for msg in batch.good:
            await msg.ack()
        metrics.count_ingest("metric", "stored", len(batch.metrics))
        metrics.count_ingest("exposure", "stored", len(batch.exposures))
        return len(batch.good)

    def retry_delay(self) -> float:
        """Exponential back-off after consecutive failed inserts, capped."""
        s = self._settings
        return float(min(s.retry_delay * 2 ** max(self._failures - 1, 0), s.max_retry_delay))

    async def run(self) -> None:
        """Consume until cancelled."""
        while True:
            await self.process_once()

    async def close(self) -> None:
        """Drop the subscription; unacked messages return to the stream after `ack_wait`."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()
