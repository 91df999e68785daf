"""The event size cap as properties against real PostgreSQL: exact for the Postgres store, an upper
bound for the in-memory store's estimate (jsonb adds spaces; it never lengthens strings or integers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.event_size import estimated_stored_size
from commands.eventstore import EventTooLarge, Metadata, NewEvent
from commands.postgres_store import PostgresEventStore, open_postgres_store
from domain.envelope import encode_envelope

pytestmark = pytest.mark.integration

CAP = 1_000
text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | text,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(text, inner, max_size=6),
    max_leaves=30,
)
META = Metadata(actor="a", org_id=uuid4(), environment_id=uuid4())


@pytest.fixture
async def capped(pg_url: str) -> AsyncIterator[PostgresEventStore]:
    store = await open_postgres_store(pg_url)
    yield PostgresEventStore(store.pool, max_event_bytes=CAP)
    await store.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
async def test_the_estimate_bounds_what_jsonb_stores(pg_url: str, value: Any) -> None:
    data = msgspec.json.encode({"v": value})
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT octet_length(%s::jsonb::text)", (data.decode(),))
        row = await cur.fetchone()
    assert row is not None
    assert row[0] <= estimated_stored_size(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
async def test_an_accepted_event_fits_as_published_and_a_refused_one_writes_nothing(
    capped: PostgresEventStore, value: Any
) -> None:
    event = NewEvent(event_id=uuid4(), type="thing.happened", data=msgspec.json.encode({"v": value}))
    stream = uuid4()
    refused: EventTooLarge | None = None
    try:
        await capped.append(stream, "thing", 0, [event], metadata=META)
    except EventTooLarge as exc:
        refused = exc
    stored = await capped.load(stream)
    if refused is not None:
        assert refused.size > CAP
        assert stored == []
    else:
        assert len(encode_envelope(stored[0])) <= CAP
