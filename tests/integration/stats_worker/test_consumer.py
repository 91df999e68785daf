"""No loss: every ingested event lands in ClickHouse exactly once, through crashes and outages."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from nats.js import JetStreamContext

from schemas import ingest
from schemas.ingest import INGEST_STREAM, ExposureMsg, MetricEventMsg
from stats_worker.clickhouse_schema import ensure_schema
from stats_worker.consumer import ConsumerSettings, IngestConsumer, consumer_config
from stats_worker.sink import ClickHouseSink

pytestmark = pytest.mark.integration

ENV = "env-ingest"
WAIT_ROUNDS = 200  # bounded waits, not timing assertions


def _metric(i: int) -> MetricEventMsg:
    return MetricEventMsg(
        event_id=f"m-{i}",
        environment_id=ENV,
        metric_key="revenue",
        context_type="user",
        context_key=f"u{i % 37}",
        value=[True, 3, 2.5, None][i % 4],
        timestamp_ms=1_700_000_000_000 + i,
        received_at_ms=1_700_000_000_100 + i,
    )


def _exposure(i: int) -> ExposureMsg:
    return ExposureMsg(
        event_id=f"x-{i}",
        environment_id=ENV,
        flag_key="checkout",
        variant_key=["on", "off"][i % 2],
        context_type="user",
        context_key=f"u{i}",
        sequence=i,
        timestamp_ms=1_700_000_000_000 + i,
    )


async def _publish(
    js: JetStreamContext, msgs: Sequence[ingest.IngestMsg], *, fresh_ids: bool = False
) -> None:
    """Publish with Nats-Msg-Id = event id, or a fresh id to get past JetStream's duplicate window."""
    for msg in msgs:
        msg_id = uuid.uuid4().hex if fresh_ids else msg.event_id
        await js.publish(ingest.subject_for(msg), ingest.encode(msg), headers={"Nats-Msg-Id": msg_id})


def _stored(client: Any, db: str) -> tuple[int, int, int, int]:
    """(metric rows, distinct metric ids, exposure rows, distinct exposure ids), de-duplicated reads."""
    m = client.query(f"SELECT count(), uniqExact(event_id) FROM {db}.metric_events FINAL").result_rows[0]
    x = client.query(f"SELECT count(), uniqExact(event_id) FROM {db}.exposures FINAL").result_rows[0]
    return int(m[0]), int(m[1]), int(x[0]), int(x[1])


async def _drain(
    js: JetStreamContext, consumer: IngestConsumer, durable: str, client: Any, db: str, want: tuple[int, ...]
) -> None:
    """Run the consumer until the stream is fully acked and ClickHouse holds `want`."""
    for _ in range(WAIT_ROUNDS):
        await consumer.process_once()
        info = await js.consumer_info(INGEST_STREAM, durable)
        if info.num_pending == 0 and info.num_ack_pending == 0 and _stored(client, db) == want:
            return
    raise AssertionError(f"ClickHouse holds {_stored(client, db)}, expected {want}")


class GatedSink:
    """Stores the batch, then blocks before returning, so the consumer is stuck between insert and ack."""

    def __init__(self, inner: ClickHouseSink) -> None:
        self.inner = inner
        self.ids: set[str] = set()
        self.inserted = threading.Event()
        self.release = threading.Event()

    def insert(self, metrics: Sequence[MetricEventMsg], exposures: Sequence[ExposureMsg]) -> None:
        self.inner.insert(metrics, exposures)
        self.ids |= {m.event_id for m in metrics} | {e.event_id for e in exposures}
        self.inserted.set()
        self.release.wait(timeout=60)


class RecordingSink:
    """Stores batches and remembers which event ids it was given."""

    def __init__(self, inner: ClickHouseSink) -> None:
        self.inner = inner
        self.ids: set[str] = set()

    def insert(self, metrics: Sequence[MetricEventMsg], exposures: Sequence[ExposureMsg]) -> None:
        self.inner.insert(metrics, exposures)
        self.ids |= {m.event_id for m in metrics} | {e.event_id for e in exposures}


def _settings(durable: str) -> ConsumerSettings:
    return ConsumerSettings(
        batch_size=50,
        fetch_timeout=0.2,
        retry_delay=0.2,
        config=consumer_config(durable=durable, ack_wait=1.0),
    )


async def test_killed_mid_batch_and_restarted_stores_each_event_once(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    ensure_schema(chdb_client, ch_database)
    metrics, exposures = [_metric(i) for i in range(300)], [_exposure(i) for i in range(120)]
    await _publish(nats_js, [*metrics, *exposures])
    await _publish(nats_js, metrics[:40])  # same Nats-Msg-Id: JetStream drops these
    # a fresh Nats-Msg-Id, as after JetStream's duplicate window: the stream holds these twice
    await _publish(nats_js, [*metrics[100:160], *exposures[:30]], fresh_ids=True)

    gate = GatedSink(ClickHouseSink(chdb_client, ch_database))
    first = IngestConsumer(nats_js, gate, _settings("stats-kill"))
    task = asyncio.create_task(first.run())
    assert await asyncio.to_thread(gate.inserted.wait, 30)
    task.cancel()  # the crash: after the insert, before any ack
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await first.close()
    gate.release.set()

    recorder = RecordingSink(ClickHouseSink(chdb_client, ch_database))
    restarted = IngestConsumer(nats_js, recorder, _settings("stats-kill"))
    try:
        await _drain(nats_js, restarted, "stats-kill", chdb_client, ch_database, (300, 300, 120, 120))
    finally:
        await restarted.close()
    assert gate.ids
    assert gate.ids <= recorder.ids  # the killed batch was redelivered and stored again, harmlessly
    rows = chdb_client.query(
        f"SELECT event_id, value FROM {ch_database}.metric_events FINAL ORDER BY event_id"
    ).result_rows
    assert dict(rows) == {m.event_id: (None if m.value is None else float(m.value)) for m in metrics}


async def test_events_wait_in_jetstream_while_clickhouse_is_unavailable(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    missing = f"{ch_database}_later"  # inserts fail for real until its tables exist
    metrics, exposures = [_metric(i) for i in range(80)], [_exposure(i) for i in range(20)]
    await _publish(nats_js, [*metrics, *exposures])
    consumer = IngestConsumer(nats_js, ClickHouseSink(chdb_client, missing), _settings("stats-outage"))
    for _ in range(3):
        assert await consumer.process_once() == 0
    info = await nats_js.consumer_info(INGEST_STREAM, "stats-outage")
    assert info.num_redelivered > 0 or info.num_ack_pending > 0  # naked, still owed
    try:
        ensure_schema(chdb_client, missing)  # ClickHouse is back
        await _drain(nats_js, consumer, "stats-outage", chdb_client, missing, (80, 80, 20, 20))
    finally:
        await consumer.close()
        chdb_client.command(f"DROP DATABASE IF EXISTS {missing}")


async def test_undecodable_messages_are_dead_lettered_without_blocking_the_rest(
    nats_js: JetStreamContext, chdb_client: Any, ch_database: str
) -> None:
    ensure_schema(chdb_client, ch_database)
    await nats_js.publish(
        f"stitchd.ingest.{ENV}.metric", b'{"not": "an event"}', headers={"Nats-Msg-Id": "bad-1"}
    )
    await nats_js.publish(f"stitchd.ingest.{ENV}.weird", b"{}", headers={"Nats-Msg-Id": "bad-2"})
    await _publish(nats_js, [_metric(i) for i in range(10)])
    consumer = IngestConsumer(nats_js, ClickHouseSink(chdb_client, ch_database), _settings("stats-poison"))
    try:
        await _drain(nats_js, consumer, "stats-poison", chdb_client, ch_database, (10, 10, 0, 0))
    finally:
        await consumer.close()
    # the unknown kind is not this consumer's (it waits in the stream); the malformed one is a dead letter
    assert consumer.dead_lettered == 1
    assert (await nats_js.stream_info("STITCHD_DLQ")).state.messages == 1
