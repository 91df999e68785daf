"""Batch decoding of ingest messages, before anything touches ClickHouse."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from schemas import ingest
from schemas.ingest import ExposureMsg, MetricEventMsg
from stats_worker.consumer import consumer_config, decode_batch

METRIC = MetricEventMsg(
    event_id="m1",
    environment_id="env",
    metric_key="revenue",
    context_type="user",
    context_key="u1",
    value=2.5,
    timestamp_ms=10,
    received_at_ms=11,
)
EXPOSURE = ExposureMsg(
    event_id="x1",
    environment_id="env",
    flag_key="checkout",
    variant_key="on",
    context_type="user",
    context_key="u1",
    sequence=4,
    timestamp_ms=9,
)


def _msg(subject: str, data: bytes) -> Msg:
    return Msg(_client=NatsClient(), subject=subject, data=data)


def _of(item: ingest.IngestMsg) -> Msg:
    return _msg(ingest.subject_for(item), ingest.encode(item))


def test_a_batch_splits_by_kind_and_collapses_redeliveries() -> None:
    batch = decode_batch([_of(METRIC), _of(EXPOSURE), _of(METRIC)])
    assert list(batch.metrics.values()) == [METRIC]
    assert list(batch.exposures.values()) == [EXPOSURE]
    assert len(batch.good) == 3
    assert batch.bad == []


def test_undecodable_messages_are_set_apart() -> None:
    wrong_kind = _msg("stitchd.ingest.env.exposure", ingest.encode(METRIC))
    unknown_subject = _msg("stitchd.ingest.env.other", b"{}")
    garbage = _msg("stitchd.ingest.env.metric", b"\xff")
    batch = decode_batch([wrong_kind, _of(METRIC), unknown_subject, garbage])
    assert batch.bad == [wrong_kind, unknown_subject, garbage]
    assert batch.good == [batch.good[0]]
    assert list(batch.metrics) == ["m1"]


def test_the_consumer_redelivers_forever_and_acks_explicitly() -> None:
    config = consumer_config(durable="d", ack_wait=5.0)
    assert config.durable_name == "d"
    assert config.max_deliver == -1
    assert config.filter_subjects == ["stitchd.ingest.*.metric", "stitchd.ingest.*.exposure"]
    assert config.ack_wait == 5.0


class _TimingOutSubscription:
    """A pull subscription whose fetches time out, the way nats-py's do when the stream is idle."""

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors

    async def fetch(self, batch: int = 1, timeout: float | None = 5.0) -> list[Msg]:  # noqa: ASYNC109
        raise self.errors.pop(0)


class _NoSink:
    async def insert(self, metrics: object, exposures: object) -> None:
        raise AssertionError("an idle fetch must not reach the sink")


async def test_idle_fetch_timeouts_of_either_kind_take_nothing() -> None:
    from nats.errors import TimeoutError as NatsTimeoutError

    from stats_worker.consumer import IngestConsumer

    consumer = IngestConsumer(js=None, sink=_NoSink())  # type: ignore[arg-type]
    consumer._sub = _TimingOutSubscription([NatsTimeoutError(), TimeoutError()])  # type: ignore[assignment]
    assert await consumer.process_once() == 0
    assert await consumer.process_once() == 0
