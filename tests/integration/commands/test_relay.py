"""The outbox relay against real PostgreSQL and nats-server: order, headers, crashes, outages, leadership."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from uuid import uuid4

import msgspec
import nats
import psycopg
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from commands.eventstore import Metadata, NewEvent, RecordedEvent
from commands.postgres_store import PostgresEventStore, open_postgres_store
from commands.relay import RELAY_LOCK_KEY, OutboxRelay, RelayConfig
from domain.envelope import decode_envelope
from stitchd.embedded import NatsProcess
from stitchd.jetstream import EVENTS_STREAM, POSITION_HEADER, ensure_streams, event_subject
from tests.conftest import restart_nats

pytestmark = pytest.mark.integration

FAST = RelayConfig(poll_interval=0.2, leader_retry=0.1, publish_timeout=0.5, max_backoff=0.3)


class RelayCrashError(Exception):
    """Raised by a test hook to kill the relay between a publish ack and its cursor update."""


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresEventStore]:
    store = await open_postgres_store(pg_url)
    yield store
    await store.aclose()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream client of our own that rides out server restarts."""
    nc: NatsClient = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    stream = nc.jetstream()
    await ensure_streams(stream)
    yield stream
    await nc.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, limit: float = 30.0) -> None:
    """Wait (bounded) until `check` holds; fail with `what` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def stream_messages(js: JetStreamContext) -> list[RawStreamMsg]:
    info = await js.stream_info(EVENTS_STREAM)
    if not info.state.last_seq:
        return []
    seqs = range(info.state.first_seq, info.state.last_seq + 1)
    return [await js.get_msg(EVENTS_STREAM, seq=s) for s in seqs]


async def positions_in_stream(js: JetStreamContext) -> list[int]:
    return [int((m.headers or {})[POSITION_HEADER]) for m in await stream_messages(js)]


def has_positions(js: JetStreamContext, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(await positions_in_stream(js)) >= n

    return check


async def append_events(store: PostgresEventStore, streams: int, per_stream: int) -> None:
    env = uuid4()
    for _ in range(streams):
        events = [
            NewEvent(event_id=uuid4(), type="thing.happened", data=msgspec.json.encode({"i": i}))
            for i in range(per_stream)
        ]
        await store.append(uuid4(), "thing", 0, events, metadata=Metadata(actor="u", environment_id=env))


def start(relay: OutboxRelay) -> asyncio.Task[None]:
    return asyncio.create_task(relay.run())


async def stop(relay: OutboxRelay, task: asyncio.Task[None]) -> None:
    relay.stop()
    await task


async def test_every_event_is_published_in_position_order_with_its_headers(
    store: PostgresEventStore, js: JetStreamContext, pg_url: str, nats_url: str
) -> None:
    await append_events(store, streams=3, per_stream=2)
    # A poll interval longer than the wait below: events appended later can only arrive by NOTIFY.
    relay = OutboxRelay(pg_url, nats_url, config=RelayConfig(poll_interval=120.0))
    task = start(relay)
    await eventually(has_positions(js, 6), "the backlog is published")
    await append_events(store, streams=1, per_stream=2)
    await eventually(has_positions(js, 8), "a new append wakes the relay")
    await stop(relay, task)
    recorded = await store.read_all(0)
    messages = await stream_messages(js)
    assert [int((m.headers or {})[POSITION_HEADER]) for m in messages] == list(range(1, 9))
    for message, event in zip(messages, recorded, strict=True):
        assert_message_carries(message, event)
    assert relay.stats.cursor == 8
    assert relay.stats.published == 8


def assert_message_carries(message: RawStreamMsg, event: RecordedEvent) -> None:
    headers = message.headers or {}
    assert headers["Nats-Msg-Id"] == str(event.event_id)
    assert headers["Stitchd-Type"] == event.type
    assert headers["Stitchd-Stream-Id"] == str(event.stream_id)
    assert headers["Stitchd-Stream-Type"] == event.stream_type
    assert headers["Stitchd-Version"] == str(event.version)
    assert headers["Stitchd-Environment-Id"] == str(event.metadata.environment_id)
    assert message.subject == event_subject(event.stream_type, str(event.metadata.environment_id))
    assert message.data is not None
    assert decode_envelope(message.data) == event


@pytest.mark.parametrize(
    ("how", "reconcile", "duplicates"), [("raise", False, 2), ("raise", True, 0), ("cancel", False, 2)]
)
async def test_a_relay_killed_between_publish_and_cursor_update_loses_and_repeats_nothing(
    store: PostgresEventStore,
    js: JetStreamContext,
    pg_url: str,
    nats_url: str,
    how: str,
    reconcile: bool,
    duplicates: int,
) -> None:
    await append_events(store, streams=5, per_stream=2)

    async def crash_after_six(event: RecordedEvent) -> None:
        if event.position == 6 and how == "raise":
            raise RelayCrashError
        if event.position == 6:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)

    config = RelayConfig(batch_size=4, reconcile_on_lead=reconcile)
    first = OutboxRelay(pg_url, nats_url, config=config, after_publish=crash_after_six)
    with pytest.raises((RelayCrashError, asyncio.CancelledError)):
        await start(first)
    assert first.stats.cursor == 4
    assert first.stats.published == 6
    second = OutboxRelay(pg_url, nats_url, config=config)
    task = start(second)
    await eventually(lambda: has_cursor(second, 10), "the restarted relay catches up")
    await stop(second, task)
    assert await positions_in_stream(js) == list(range(1, 11))
    assert second.stats.duplicates == duplicates


async def has_cursor(relay: OutboxRelay, position: int) -> bool:
    return relay.stats.cursor >= position


async def test_events_appended_while_nats_is_down_are_published_when_it_is_back(
    store: PostgresEventStore,
    js: JetStreamContext,
    pg_url: str,
    nats_process: NatsProcess,
    tmp_path: Path,
) -> None:
    relay = OutboxRelay(pg_url, nats_process.url, config=FAST)
    task = start(relay)
    await append_events(store, streams=1, per_stream=2)
    await eventually(lambda: has_cursor(relay, 2), "published before the outage")
    nats_process.stop()
    await append_events(store, streams=3, per_stream=1)

    async def relay_tried() -> bool:
        return relay.stats.publish_failures > 0

    await eventually(relay_tried, "the relay tries while NATS is down")
    assert relay.stats.cursor == 2
    back = restart_nats(nats_process, tmp_path / "nats")
    try:
        await eventually(lambda: has_cursor(relay, 5), "published after the outage")
        await stop(relay, task)
        assert await positions_in_stream(js) == [1, 2, 3, 4, 5]
    finally:
        back.stop()


async def test_only_one_relay_publishes_at_a_time_and_a_standby_takes_over(
    store: PostgresEventStore, js: JetStreamContext, pg_url: str, nats_url: str
) -> None:
    relays = [OutboxRelay(pg_url, nats_url, config=FAST) for _ in range(2)]
    tasks = [start(r) for r in relays]

    async def one_leads() -> bool:
        return any(r.stats.leader for r in relays)

    await eventually(one_leads, "a relay takes the lead")
    leader, standby = sorted(relays, key=lambda r: not r.stats.leader)
    await append_events(store, streams=5, per_stream=1)
    await eventually(lambda: has_cursor(leader, 5), "the leader publishes")
    assert (leader.stats.published, standby.stats.published, standby.stats.leader) == (5, 0, False)
    await stop(leader, tasks[relays.index(leader)])
    await append_events(store, streams=3, per_stream=1)
    await eventually(lambda: has_cursor(standby, 8), "the standby takes over")
    await stop(standby, tasks[relays.index(standby)])
    assert standby.stats.published == 3
    assert await positions_in_stream(js) == list(range(1, 9))


async def test_the_relay_prepares_the_streams_it_publishes_to(
    store: PostgresEventStore, pg_url: str, nats_url: str
) -> None:
    nc: NatsClient = await nats.connect(nats_url)
    try:
        bare = nc.jetstream()
        assert EVENTS_STREAM not in [s.config.name for s in await bare.streams_info()]
        relay = OutboxRelay(pg_url, nats_url, config=FAST, prepare_streams=ensure_streams)
        task = start(relay)
        await append_events(store, streams=2, per_stream=1)
        await eventually(lambda: has_cursor(relay, 2), "published into the prepared stream")
        await stop(relay, task)
        assert await positions_in_stream(bare) == [1, 2]
    finally:
        await nc.close()


async def test_a_relay_whose_database_session_dies_takes_the_lead_again_and_goes_on(
    store: PostgresEventStore, js: JetStreamContext, pg_url: str, nats_url: str
) -> None:
    relay = OutboxRelay(pg_url, nats_url, config=FAST)
    task = start(relay)
    await append_events(store, streams=2, per_stream=1)
    await eventually(lambda: has_cursor(relay, 2), "published before the session dies")
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
            (RELAY_LOCK_KEY,),
        )
    await append_events(store, streams=2, per_stream=1)
    await eventually(lambda: has_cursor(relay, 4), "published after the session died")
    await stop(relay, task)
    assert relay.stats.lead_changes == 2
    assert await positions_in_stream(js) == [1, 2, 3, 4]


async def test_an_event_too_large_for_nats_is_published_as_a_reference_and_the_relay_goes_on(
    store: PostgresEventStore, js: JetStreamContext, pg_url: str, nats_url: str
) -> None:
    """An event stored before the store capped sizes (here: a store without the cap) must not wedge it."""
    uncapped = PostgresEventStore(store.pool, max_event_bytes=16 * 1_048_576)
    huge = NewEvent(event_id=uuid4(), type="thing.happened", data=b'{"s":"' + b"x" * 3_000_000 + b'"}')
    await append_events(store, streams=1, per_stream=1)
    await uncapped.append(uuid4(), "thing", 0, [huge], metadata=Metadata(actor="u", environment_id=uuid4()))
    await append_events(store, streams=1, per_stream=1)
    relay = OutboxRelay(pg_url, nats_url, config=FAST)
    task = start(relay)
    await eventually(has_positions(js, 3), "the events after the oversized one are published")
    await stop(relay, task)
    assert await positions_in_stream(js) == [1, 2, 3]
    assert relay.stats.oversized == 1
    assert relay.stats.cursor == 3
    reference = (await stream_messages(js))[1]
    assert (reference.headers or {})["Stitchd-Body"] == "omitted"
    assert (reference.headers or {})["Nats-Msg-Id"] == str(huge.event_id)
    assert reference.data is not None
    assert msgspec.json.decode(reference.data)["data"] is None
