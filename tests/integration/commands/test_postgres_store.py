"""Postgres-only behaviour of the event store: NOTIFY on append, the UNIQUE backstop, jsonb round-trips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.encoding import load_stream, to_new_events
from commands.eventstore import ConcurrencyError, Metadata, NewEvent
from commands.postgres_store import NOTIFY_CHANNEL, PostgresEventStore, open_postgres_store
from domain.tenancy.events import OrgCreated

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresEventStore]:
    store = await open_postgres_store(pg_url)
    yield store
    await store.aclose()


def one_event() -> list[NewEvent]:
    return [NewEvent(event_id=uuid4(), type="thing.happened", data=b'{"a": 1}')]


async def test_an_append_notifies_its_last_position_on_commit(store: PostgresEventStore, pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        await store.append(uuid4(), "thing", 0, [*one_event(), *one_event()], metadata=Metadata())
        await store.append(uuid4(), "thing", 0, [], metadata=Metadata())  # nothing new: no NOTIFY
        await store.append(uuid4(), "thing", 0, one_event(), metadata=Metadata())
        payloads = [n.payload async for n in listener.notifies(timeout=10, stop_after=2)]
    assert payloads == ["2", "3"]


async def test_a_version_clash_past_the_lock_is_still_a_concurrency_error(
    store: PostgresEventStore, pg_url: str
) -> None:
    """A writer that bypasses the advisory lock is stopped by UNIQUE(stream_id, version)."""
    stream = uuid4()
    async with await psycopg.AsyncConnection.connect(pg_url) as rogue:
        await rogue.execute(
            "INSERT INTO events (position, stream_id, stream_type, version, event_id, type, data, metadata)"
            " VALUES (100, %s, 'thing', 1, %s, 'thing.happened', '{}', '{}')",
            (stream, uuid4()),
        )
        append = asyncio.create_task(store.append(stream, "thing", 0, one_event(), metadata=Metadata()))
        await wait_until_blocked(pg_url)
        await rogue.commit()
        with pytest.raises(ConcurrencyError) as caught:
            await append
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert [r.position for r in await store.load(stream)] == [100]


async def wait_until_blocked(pg_url: str) -> None:
    """Until some session waits on a lock (the append, on the rogue's uncommitted unique key)."""
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        for _ in range(600):
            cur = await conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            row = await cur.fetchone()
            if row is not None and row[0] > 0:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the append never blocked on the rogue insert")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# No NUL (PostgreSQL text refuses it) and no lone surrogates: not UTF-8, refused by every decoder at
# the edge (msgspec), so no event can carry one.
@given(name=st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])))
async def test_domain_events_round_trip_through_jsonb(store: PostgresEventStore, name: str) -> None:
    """jsonb re-formats the JSON; what comes back still decodes to the same event (NUL is not storable)."""
    org = uuid4()
    event = OrgCreated(stream_id=org, version=1, occurred_at=NOW, name=name)
    await store.append(org, "org", 0, to_new_events([event]), metadata=Metadata(org_id=org))
    assert await load_stream(store, org) == [event]
    (recorded,) = await store.load(org)
    assert isinstance(recorded.data, bytes)
    assert msgspec.json.decode(recorded.data)["name"] == name
    assert recorded.metadata == Metadata(org_id=org)
