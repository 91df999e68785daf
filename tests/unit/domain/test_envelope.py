"""The stored-event envelope: rows of the `events` table and the JetStream message the relay publishes."""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from domain.envelope import (
    EVENTS_STREAM,
    EVENTS_SUBJECTS,
    Metadata,
    RecordedEvent,
    decode_envelope,
    encode_envelope,
    envelope_headers,
    event_subject,
    recorded_from_row,
)
from stitchd import jetstream

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
metadata = st.builds(
    Metadata,
    actor=st.text(max_size=20),
    org_id=st.none() | st.uuids(),
    project_id=st.none() | st.uuids(),
    environment_id=st.none() | st.uuids(),
    command_id=st.none() | st.uuids(),
)
recorded_events = st.builds(
    RecordedEvent,
    position=st.integers(1, 2**62),
    stream_id=st.uuids(),
    stream_type=st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    version=st.integers(1, 2**31 - 1),
    event_id=st.uuids(),
    type=st.from_regex(r"[a-z_]{1,12}\.[a-z_]{1,12}", fullmatch=True),
    data=json_values.map(msgspec.json.encode),
    metadata=metadata,
    recorded_at=st.datetimes(timezones=st.just(UTC)),
)


@given(recorded=recorded_events)
def test_the_envelope_round_trips_with_data_embedded_as_json(recorded: RecordedEvent) -> None:
    body = encode_envelope(recorded)
    assert decode_envelope(body) == recorded
    assert msgspec.json.decode(body)["data"] == msgspec.json.decode(recorded.data)


@given(recorded=recorded_events)
def test_headers_carry_the_id_position_and_routing_facts(recorded: RecordedEvent) -> None:
    headers = envelope_headers(recorded)
    assert headers["Nats-Msg-Id"] == str(recorded.event_id)
    assert int(headers[jetstream.POSITION_HEADER]) == recorded.position
    assert int(headers["Stitchd-Version"]) == recorded.version
    assert UUID(headers["Stitchd-Stream-Id"]) == recorded.stream_id
    assert (headers["Stitchd-Type"], headers["Stitchd-Stream-Type"]) == (recorded.type, recorded.stream_type)
    env = recorded.metadata.environment_id
    assert headers.get("Stitchd-Environment-Id") == (None if env is None else str(env))


@given(stream_type=st.from_regex(r"[a-z_]{1,12}", fullmatch=True), env=st.none() | st.uuids().map(str))
def test_every_event_subject_is_captured_by_the_configured_events_stream(
    stream_type: str, env: str | None
) -> None:
    (events,) = [c for c in jetstream.stream_configs() if c.name == EVENTS_STREAM]
    assert events.subjects == [EVENTS_SUBJECTS]
    subject = event_subject(stream_type, env)
    assert subject.startswith(EVENTS_SUBJECTS.removesuffix(">"))
    assert len(subject.split(".")) == 4


@given(recorded=recorded_events, as_text=st.booleans())
def test_a_row_decodes_to_the_same_envelope_whichever_way_jsonb_was_loaded(
    recorded: RecordedEvent, as_text: bool
) -> None:
    meta = msgspec.json.encode(recorded.metadata)
    data, metadata = (recorded.data.decode(), meta.decode()) if as_text else (recorded.data, meta)
    row = (recorded.position, recorded.stream_id, recorded.stream_type, recorded.version, recorded.event_id,
           recorded.type, data, metadata, recorded.recorded_at)  # fmt: skip
    assert recorded_from_row(row) == recorded
