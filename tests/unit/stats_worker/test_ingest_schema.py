"""Ingest wire shapes: round trips, tolerant decoding and subjects."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import ingest
from schemas.ingest import ExposureMsg, MetricEventMsg

tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
texts = st.text(max_size=30)
ints = st.integers(min_value=-(2**62), max_value=2**62)
values = st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False)

metric_events = st.builds(
    MetricEventMsg,
    event_id=texts,
    environment_id=tokens,
    metric_key=texts,
    context_type=texts,
    context_key=texts,
    value=values,
    timestamp_ms=ints,
    received_at_ms=ints,
)
exposures = st.builds(
    ExposureMsg,
    event_id=texts,
    environment_id=tokens,
    flag_key=texts,
    variant_key=texts,
    context_type=texts,
    context_key=texts,
    sequence=ints,
    timestamp_ms=ints,
)


@given(metric_events | exposures)
def test_messages_round_trip_through_their_subject(msg: ingest.IngestMsg) -> None:
    subject = ingest.subject_for(msg)
    decoded = ingest.decode(subject, ingest.encode(msg))
    assert decoded == msg
    if isinstance(msg, MetricEventMsg) and isinstance(decoded, MetricEventMsg):
        assert type(decoded.value) is type(msg.value)  # a bool stays a bool, an int an int
    assert subject == f"stitchd.ingest.{msg.environment_id}.{ingest.kind_of(msg)}"


def test_unknown_fields_are_ignored() -> None:
    raw = (
        b'{"event_id":"e","environment_id":"env","flag_key":"f","variant_key":"on","context_type":"user",'
        b'"context_key":"u","sequence":3,"timestamp_ms":10,"added_later":{"x":1}}'
    )
    assert ingest.decode_exposure(raw).variant_key == "on"


def test_a_metric_without_value_decodes_as_an_occurrence() -> None:
    raw = (
        b'{"event_id":"e","environment_id":"env","metric_key":"m","context_type":"user",'
        b'"context_key":"u","timestamp_ms":10,"received_at_ms":11}'
    )
    assert ingest.decode_metric(raw).value is None


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(msgspec.DecodeError):
        ingest.decode("stitchd.ingest.env.metric", b'{"event_id":"e"}')
    with pytest.raises(msgspec.DecodeError):
        ingest.decode("stitchd.ingest.env.exposure", b"not json")


@pytest.mark.parametrize(
    "subject",
    ["stitchd.ingest.env", "stitchd.events.env.metric", "stitchd.ingest.env.other", "stitchd.ingest..metric"],
)
def test_other_subjects_are_not_ingest(subject: str) -> None:
    with pytest.raises(ValueError):
        ingest.kind_from_subject(subject)


@pytest.mark.parametrize("env", ["", "a.b", "a*", ">", "a b", "*"])
def test_environment_ids_must_be_one_subject_token(env: str) -> None:
    with pytest.raises(ValueError):
        ingest.subject(env, "metric")


def test_kind_filters_match_every_environment() -> None:
    assert ingest.kind_filter("metric") == "stitchd.ingest.*.metric"
    with pytest.raises(ValueError):
        ingest.kind_filter("other")  # type: ignore[arg-type]
