"""Domain events to store rows and back (to_new_events, load_stream)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from commands.encoding import load_stream, to_new_events
from commands.eventstore import Metadata
from commands.memory_store import InMemoryEventStore
from domain.envelope import decode_recorded
from domain.tenancy.events import OrgCreated, OrgRenamed

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ORG = uuid4()


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
