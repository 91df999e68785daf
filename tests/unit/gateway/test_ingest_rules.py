"""Ingest validation and message building (pure): what is accepted, what is rejected, which ids."""

from __future__ import annotations

from uuid import UUID, uuid4

from hypothesis import example, given
from hypothesis import strategies as st

from domain.event_definitions.events import MetricValueType
from gateway.exposures import exposure_id, exposure_messages, msg_id
from gateway.ingest import metric_messages, value_fits
from schemas.http_ingest import ExposureBody, MetricEventBody

ENV = UUID("00000000-0000-4000-8000-000000000001")
TYPES = {"purchase": MetricValueType.BOOL, "items": MetricValueType.INT, "revenue": MetricValueType.DOUBLE}
values = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False))
keys = st.sampled_from([*TYPES, "unknown", "other"])
events = st.builds(
    MetricEventBody,
    metric_key=keys,
    context_key=st.sampled_from(["u1", "u2"]),
    value=values,
    timestamp_ms=st.one_of(st.none(), st.integers(0, 2**41)),
    event_id=st.one_of(st.none(), st.uuids().map(str)),
)


def test_value_types_follow_the_registered_type() -> None:
    assert value_fits(None, MetricValueType.BOOL)
    assert value_fits(True, MetricValueType.BOOL)
    assert not value_fits(1, MetricValueType.BOOL)
    assert value_fits(3, MetricValueType.INT)
    assert not value_fits(3.0, MetricValueType.INT)
    assert not value_fits(True, MetricValueType.INT)
    assert value_fits(3, MetricValueType.DOUBLE)
    assert value_fits(2.5, MetricValueType.DOUBLE)
    assert not value_fits(False, MetricValueType.DOUBLE)


@given(st.lists(events, max_size=30))
@example(  # equal structs (True == 1): only the int fits a double metric, the bool is rejected
    [
        MetricEventBody(metric_key="revenue", context_type="user", context_key="u", value=1),
        MetricEventBody(metric_key="revenue", context_type="user", context_key="u", value=True),
    ]
)
def test_every_event_is_either_published_or_its_key_rejected(batch: list[MetricEventBody]) -> None:
    accepted, rejected = metric_messages(ENV, batch, TYPES.get, received_ms=1000)
    fits = [e for e in batch if e.metric_key in TYPES and value_fits(e.value, TYPES[e.metric_key])]
    assert [(m.metric_key, m.context_key, m.value) for m in accepted] == [
        (e.metric_key, e.context_key, e.value) for e in fits
    ]
    # By identity: structs compare by value and True == 1, so an equal event may fit where this one does not.
    fitting = {id(e) for e in fits}
    assert rejected == list(dict.fromkeys(e.metric_key for e in batch if id(e) not in fitting))
    assert all(m.environment_id == str(ENV) and m.received_at_ms == 1000 for m in accepted)
    generated = []
    for m, e in zip(accepted, fits, strict=True):
        assert m.timestamp_ms == (1000 if e.timestamp_ms is None else e.timestamp_ms)
        if e.event_id is None:
            generated.append(m.event_id)
        else:
            assert m.event_id == e.event_id
    assert len(set(generated)) == len(generated)  # server ids never collide


@given(st.text(min_size=1, max_size=20), st.integers(0, 2**40), st.integers(0, 2**40))
def test_an_exposure_without_an_id_keeps_its_derived_id_when_resent(
    flag: str, sequence: int, ts: int
) -> None:
    body = ExposureBody(flag_key=flag, variant_key="on", context_key="u1", sequence=sequence, timestamp_ms=ts)
    [first] = exposure_messages(ENV, [body], received_ms=5)
    [again] = exposure_messages(ENV, [body], received_ms=99)
    assert first == again
    other_env = exposure_id(uuid4(), body, ts)
    assert other_env != first.event_id
    moved = ExposureBody(
        flag_key=flag, variant_key="on", context_key="u1", sequence=sequence, timestamp_ms=ts + 1
    )
    assert exposure_id(ENV, moved, ts + 1) != first.event_id


def test_dedup_ids_are_scoped_by_environment_and_kind() -> None:
    body = ExposureBody(flag_key="f", variant_key="on", context_key="u1", event_id="same")
    [exposure] = exposure_messages(ENV, [body], received_ms=5)
    [metric], _ = metric_messages(
        ENV, [MetricEventBody(metric_key="purchase", context_key="u1", event_id="same")], TYPES.get, 5
    )
    assert msg_id(exposure) == f"{ENV}:exposure:same"
    assert msg_id(metric) == f"{ENV}:metric:same"
