"""One contract for every EventStore: the in-memory store and the Postgres store pass the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.event_size import MAX_EVENT_BYTES
from commands.eventstore import ConcurrencyError, EventStore, EventTooLarge, Metadata, NewEvent
from commands.memory_store import InMemoryEventStore
from commands.postgres_store import open_postgres_store
from domain.envelope import encode_envelope

META = Metadata(actor="user-1", org_id=uuid4(), project_id=uuid4(), environment_id=uuid4())
# (stream index, number of events) per concurrent append task
APPEND_OPS = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), min_size=1, max_size=12)


def new_events(n: int, label: str = "e") -> list[NewEvent]:
    return [
        NewEvent(event_id=uuid4(), type="thing.happened", data=msgspec.json.encode({"label": label, "i": i}))
        for i in range(n)
    ]


async def append_with_retry(store: EventStore, stream_id: UUID, n: int) -> None:
    """Reload and retry on ConcurrencyError, as a command handler would."""
    while True:
        version = len(await store.load(stream_id))
        await asyncio.sleep(0)
        try:
            await store.append(stream_id, "thing", version, new_events(n), metadata=META)
        except ConcurrencyError:
            continue
        return


class EventStoreContract:
    """Behaviour every EventStore must have; subclasses provide the `store` fixture."""

    async def test_append_to_a_new_stream_starts_at_version_one(self, store: EventStore) -> None:
        stream, events = uuid4(), new_events(3)
        result = await store.append(stream, "thing", 0, events, metadata=META)
        loaded = await store.load(stream)
        assert [r.version for r in loaded] == [1, 2, 3]
        assert [(r.event_id, r.type, msgspec.json.decode(r.data)) for r in loaded] == [
            (e.event_id, e.type, msgspec.json.decode(e.data)) for e in events
        ]
        assert all(r.metadata == META and r.stream_type == "thing" for r in loaded)
        assert (result.version, result.first_position, result.last_position) == (3, 1, 3)
        assert not result.repeated

    async def test_wrong_expected_version_is_refused_and_appends_nothing(self, store: EventStore) -> None:
        stream = uuid4()
        await store.append(stream, "thing", 0, new_events(2), metadata=META)
        with pytest.raises(ConcurrencyError) as caught:
            await store.append(stream, "thing", 1, new_events(1), metadata=META)
        assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (stream, 1, 2)
        with pytest.raises(ConcurrencyError):
            await store.append(uuid4(), "thing", 1, new_events(1), metadata=META)
        assert await store.head_position() == 2

    async def test_concurrent_appends_at_the_same_version_exactly_one_wins(self, store: EventStore) -> None:
        stream = uuid4()
        await store.append(stream, "thing", 0, new_events(1), metadata=META)
        batches = [new_events(3, label=str(i)) for i in range(8)]
        outcomes = await asyncio.gather(
            *(store.append(stream, "thing", 1, b, metadata=META) for b in batches), return_exceptions=True
        )
        winners = [i for i, o in enumerate(outcomes) if not isinstance(o, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(o, ConcurrencyError) for i, o in enumerate(outcomes) if i != winners[0])
        loaded = await store.load(stream)
        assert [r.event_id for r in loaded[1:]] == [e.event_id for e in batches[winners[0]]]
        assert await store.head_position() == 4

    async def test_a_repeated_command_returns_the_first_result_and_appends_nothing(
        self, store: EventStore
    ) -> None:
        stream, command = uuid4(), uuid4()
        first = await store.append(
            stream, "thing", 0, new_events(2), metadata=META, command_id=command, response={"id": str(stream)}
        )
        again = await store.append(
            stream, "thing", 0, new_events(2), metadata=META, command_id=command, response={"id": "other"}
        )
        assert again.repeated
        assert not first.repeated
        assert (again.first_position, again.last_position, again.version) == (1, 2, 2)
        assert again.response == {"id": str(stream)} == first.response
        assert await store.head_position() == 2

    async def test_an_empty_append_checks_the_version_and_records_the_command(
        self, store: EventStore
    ) -> None:
        stream, other, command = uuid4(), uuid4(), uuid4()
        await store.append(stream, "thing", 0, new_events(2), metadata=META)
        await store.append(other, "thing", 0, new_events(1), metadata=META)
        result = await store.append(stream, "thing", 2, [], metadata=META, command_id=command, response=[1])
        assert (result.first_position, result.last_position, result.version) == (2, 2, 2)
        assert (
            await store.append(stream, "thing", 2, new_events(1), metadata=META, command_id=command)
        ).repeated
        with pytest.raises(ConcurrencyError):
            await store.append(stream, "thing", 1, [], metadata=META)
        assert await store.head_position() == 3

    async def test_a_duplicate_event_id_is_refused_and_appends_nothing(self, store: EventStore) -> None:
        events = new_events(1)
        await store.append(uuid4(), "thing", 0, events, metadata=META)
        with pytest.raises(ValueError, match="duplicate event id"):
            await store.append(uuid4(), "thing", 0, [*new_events(1), *events], metadata=META)
        assert await store.head_position() == 1

    async def test_positions_increase_across_streams_and_load_can_stop_at_a_position(
        self, store: EventStore
    ) -> None:
        a, b = uuid4(), uuid4()
        await store.append(a, "thing", 0, new_events(2), metadata=META)
        await store.append(b, "other", 0, new_events(1), metadata=META)
        await store.append(a, "thing", 2, new_events(1), metadata=META)
        everything = await store.read_all(0)
        assert [r.position for r in everything] == [1, 2, 3, 4]
        assert [(r.stream_id, r.version) for r in everything] == [(a, 1), (a, 2), (b, 1), (a, 3)]
        assert [r.version for r in await store.load(a, up_to_position=3)] == [1, 2]
        assert await store.load(uuid4()) == []
        assert await store.head_position() == 4

    async def test_read_all_pages_by_position(self, store: EventStore) -> None:
        for _ in range(5):
            await store.append(uuid4(), "thing", 0, new_events(3), metadata=META)
        pages, after = [], 0
        while page := await store.read_all(after, limit=4):
            pages.append([r.position for r in page])
            after = page[-1].position
        assert pages == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15]]
        assert [r.position for r in await store.read_all(13)] == [14, 15]

    async def test_read_environment_filters_by_metadata_environment(self, store: EventStore) -> None:
        env = uuid4()
        here = Metadata(actor="system", environment_id=env)
        await store.append(uuid4(), "thing", 0, new_events(2), metadata=here)
        await store.append(uuid4(), "thing", 0, new_events(1), metadata=META)
        await store.append(uuid4(), "thing", 0, new_events(2), metadata=here)
        assert [r.position for r in await store.read_environment(env)] == [1, 2, 4, 5]
        assert [r.position for r in await store.read_environment(env, 2, limit=1)] == [4]

    async def test_an_event_over_the_size_cap_is_refused_and_nothing_is_written(
        self, store: EventStore
    ) -> None:
        stream, command = uuid4(), uuid4()
        small = new_events(1)
        huge = NewEvent(
            event_id=uuid4(), type="thing.happened", data=b'{"s":"' + b"x" * MAX_EVENT_BYTES + b'"}'
        )
        head = await store.head_position()
        with pytest.raises(EventTooLarge) as caught:
            await store.append(stream, "thing", 0, [*small, huge], metadata=META, command_id=command)
        assert caught.value.limit == MAX_EVENT_BYTES
        assert str(MAX_EVENT_BYTES) in str(caught.value)
        assert await store.load(stream) == []
        assert await store.head_position() == head
        # the command id was not recorded: the same command may be retried, smaller
        retried = await store.append(stream, "thing", 0, small, metadata=META, command_id=command)
        assert not retried.repeated
        assert retried.version == 1

    async def test_the_cap_counts_the_spaces_the_store_adds(self, store: EventStore) -> None:
        """jsonb's text (what the relay publishes) has a space after each comma: 0.8 MiB is 1.2 stored."""
        ones = b"[" + b",".join([b"1"] * (MAX_EVENT_BYTES * 4 // 10)) + b"]"
        assert len(ones) < MAX_EVENT_BYTES
        event = NewEvent(event_id=uuid4(), type="thing.happened", data=b'{"xs":' + ones + b"}")
        with pytest.raises(EventTooLarge):
            await store.append(uuid4(), "thing", 0, [event], metadata=META)

    async def test_every_accepted_event_fits_the_cap_as_published(self, store: EventStore) -> None:
        ones = b"[" + b",".join([b"1"] * (MAX_EVENT_BYTES // 3 - 2_000)) + b"]"
        event = NewEvent(event_id=uuid4(), type="thing.happened", data=b'{"xs":' + ones + b"}")
        stream = uuid4()
        await store.append(stream, "thing", 0, [event], metadata=META)
        [recorded] = await store.load(stream)
        assert len(encode_envelope(recorded)) <= MAX_EVENT_BYTES


async def check_interleaved_appends(store: EventStore, ops: list[tuple[int, int]]) -> None:
    """Concurrent appends (with retries) to a few streams: gapless positions, each stream's versions 1..k."""
    head = await store.head_position()
    streams = [uuid4() for _ in range(4)]
    await asyncio.gather(*(append_with_retry(store, streams[s], n) for s, n in ops))
    recorded = await store.read_all(head, limit=10_000)
    assert [r.position for r in recorded] == list(range(head + 1, head + 1 + sum(n for _, n in ops)))
    for s, stream in enumerate(streams):
        versions = [r.version for r in recorded if r.stream_id == stream]
        assert versions == list(range(1, 1 + sum(n for i, n in ops if i == s)))
        assert [r.event_id for r in await store.load(stream)] == [
            r.event_id for r in recorded if r.stream_id == stream
        ]


# Each subclass states its own property test (one executor per hypothesis test); the store is shared
# across examples on purpose: the check is relative to the head position it starts from.


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> EventStore:
        return InMemoryEventStore()

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=APPEND_OPS)
    async def test_interleaved_appends_give_gapless_positions_and_versions(
        self, store: EventStore, ops: list[tuple[int, int]]
    ) -> None:
        await check_interleaved_appends(store, ops)


@pytest.mark.integration
class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, pg_url: str) -> AsyncIterator[EventStore]:
        store = await open_postgres_store(pg_url, max_size=8)
        yield store
        await store.aclose()

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=APPEND_OPS)
    async def test_interleaved_appends_give_gapless_positions_and_versions(
        self, store: EventStore, ops: list[tuple[int, int]]
    ) -> None:
        await check_interleaved_appends(store, ops)
