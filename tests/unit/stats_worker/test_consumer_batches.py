"""Batch decoding of ingest messages, before anything touches ClickHouse."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from schemas import ingest
from schemas.ingest import ExposureMsg, MetricEventMsg
from stats_worker.batches import decode_batch, store_isolating
from stats_worker.consumer import consumer_config
from stats_worker.sink import SinkRejectedError

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
    assert batch.metrics() == [METRIC]
    assert batch.exposures() == [EXPOSURE]
    assert len(batch.good) == 3
    assert batch.bad == []


def test_the_same_client_event_id_in_two_tenants_or_kinds_is_two_rows() -> None:
    """Item 12: de-duplication keys by (environment, kind, key, event id), never by event id alone."""
    other_env = msgspec.structs.replace(METRIC, environment_id="other-env")
    other_key = msgspec.structs.replace(METRIC, metric_key="clicks")
    same_id_exposure = msgspec.structs.replace(EXPOSURE, event_id=METRIC.event_id)
    batch = decode_batch([_of(m) for m in (METRIC, other_env, other_key, same_id_exposure, METRIC)])
    assert batch.metrics() == [METRIC, other_env, other_key]
    assert batch.exposures() == [same_id_exposure]
    assert len(batch.good) == 5


def test_undecodable_messages_are_set_apart() -> None:
    wrong_kind = _msg("stitchd.ingest.env.exposure", ingest.encode(METRIC))
    unknown_subject = _msg("stitchd.ingest.env.other", b"{}")
    garbage = _msg("stitchd.ingest.env.metric", b"\xff")
    too_big = _msg("stitchd.ingest.env.metric", ingest.encode(METRIC).replace(b"2.5", b"9" * 400))
    batch = decode_batch([wrong_kind, _of(METRIC), unknown_subject, garbage, too_big])
    assert [m for m, _ in batch.bad] == [wrong_kind, unknown_subject, garbage, too_big]
    assert all(reason.startswith("undecodable: ") for _, reason in batch.bad)
    assert batch.good == [batch.good[0]]
    assert batch.metrics() == [METRIC]


class _RefusingSink:
    """Refuses any insert holding a row whose context key is in `poison`, like a ClickHouse constraint."""

    def __init__(self, poison: set[str]) -> None:
        self.poison = poison
        self.stored: list[str] = []

    def insert(self, metrics: Sequence[MetricEventMsg], exposures: Sequence[ExposureMsg]) -> None:
        rows: list[MetricEventMsg | ExposureMsg] = [*metrics, *exposures]
        if any(r.context_key in self.poison for r in rows):
            raise SinkRejectedError("constraint violated")
        self.stored += [r.event_id for r in rows]


@given(st.integers(0, 60), st.sets(st.integers(0, 59)))
def test_bisection_stores_every_good_row_and_isolates_every_bad_one(size: int, bad: set[int]) -> None:
    metrics = [msgspec.structs.replace(METRIC, event_id=f"m{i}", context_key=f"u{i}") for i in range(size)]
    poison = {f"u{i}" for i in bad if i < size}
    sink = _RefusingSink(poison)
    refused = store_isolating(sink, metrics, [])
    assert sorted(r.context_key for r, _ in refused) == sorted(poison)
    assert all(reason == "constraint violated" for _, reason in refused)
    assert sorted(sink.stored) == sorted(m.event_id for m in metrics if m.context_key not in poison)


def test_the_consumer_redelivers_a_bounded_number_of_times_and_acks_explicitly() -> None:
    config = consumer_config(durable="d", ack_wait=5.0)
    assert config.durable_name == "d"
    assert config.max_deliver == 10
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
