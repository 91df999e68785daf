"""Domain events to store rows and back, and the JetStream envelope the relay publishes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from commands.encoding import load_stream, to_new_events
from commands.eventstore import Metadata, RecordedEvent
from commands.memory_store import InMemoryEventStore
from domain.envelope import (
    EVENTS_STREAM,
    EVENTS_SUBJECTS,
    decode_envelope,
    decode_recorded,
    encode_envelope,
    envelope_headers,
    event_subject,
)
from domain.tenancy.events import OrgCreated, OrgRenamed
from stitchd import jetstream

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ORG = uuid4()

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


def test_new_events_carry_the_tag_the_json_and_a_fresh_id() -> None:
    ids = iter([UUID(int=1), UUID(int=2)])
    events = [
        OrgCreated(stream_id=ORG, version=1, occurred_at=NOW, name="Acme"),
        OrgRenamed(stream_id=ORG, version=2, occurred_at=NOW, name="Ácme ✓"),
    ]
    new = to_new_events(events, new_id=lambda: next(ids))
    assert [(n.event_id, n.type) for n in new] == [(UUID(int=1), "org.created"), (UUID(int=2), "org.renamed")]
    assert msgspec.json.decode(new[1].data)["name"] == "Ácme ✓"


@given(name=st.text())
async def test_an_appended_event_loads_back_equal(name: str) -> None:
    store = InMemoryEventStore()
    events = [
        OrgCreated(stream_id=ORG, version=1, occurred_at=NOW, name=name),
        OrgRenamed(stream_id=ORG, version=2, occurred_at=NOW, name=name[::-1]),
    ]
    await store.append(ORG, "org", 0, to_new_events(events), metadata=Metadata())
    assert await load_stream(store, ORG) == events
    assert await load_stream(store, ORG, up_to_position=1) == events[:1]
    assert [decode_recorded(r) for r in await store.read_all(0)] == events


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
