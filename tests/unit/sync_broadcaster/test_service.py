"""FlagSyncService over a real grpclib server on localhost, fed by an in-memory event log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from schemas.generated.stitchd.flags.v1 import FlagSyncServiceStub, SyncRequest, SyncResponse
from sync_broadcaster.app import Broadcaster, BroadcasterSettings, build_broadcaster
from tests.unit.sync_broadcaster.world import World, plan_is

WAIT = 10.0  # generous upper bound so a broken server fails instead of hanging; never asserted on


def settings(history_limit: int = 1000, heartbeat: float = 30.0) -> BroadcasterSettings:
    return BroadcasterSettings(
        database_url="", nats_url=None, host="127.0.0.1", port=0,
        heartbeat_seconds=heartbeat, history_limit=history_limit, poll_interval=0.02,
    )  # fmt: skip


@asynccontextmanager
async def serving(
    world: World, *, history_limit: int = 1000, heartbeat: float = 30.0
) -> AsyncIterator[Broadcaster]:
    config = settings(history_limit=history_limit, heartbeat=heartbeat)
    async with build_broadcaster(config, events=world.log) as broadcaster:
        yield broadcaster


class Sdk:
    """One SyncDefinitions stream read message by message."""

    def __init__(self, port: int, key: str, request: SyncRequest) -> None:
        self.channel = Channel("127.0.0.1", port)
        stub = FlagSyncServiceStub(self.channel, metadata={"x-sdk-key": key} if key else None)
        self.stream = stub.sync_definitions(request).__aiter__()

    async def next(self, *, heartbeats: bool = False) -> SyncResponse:
        while True:
            msg = await asyncio.wait_for(anext(self.stream), WAIT)
            if heartbeats or not msg.is_heartbeat:
                return msg

    def close(self) -> None:
        self.channel.close()


@asynccontextmanager
async def sdk(port: int, key: str, since: int = 0, env: str = "") -> AsyncIterator[Sdk]:
    client = Sdk(port, key, SyncRequest(since_sequence=since, environment_id=env))
    try:
        yield client
    finally:
        client.close()


def setup() -> tuple[World, UUID, str, UUID]:
    world = World()
    env = world.environment()
    raw, key_id = world.issue_key(env)
    world.create_flag("checkout")
    world.configure(env, "checkout")
    return world, env, raw, key_id


async def test_a_stream_starts_with_a_snapshot_then_sends_one_delta_per_change() -> None:
    world, env, raw, _ = setup()
    async with serving(world) as b, sdk(b.port, raw) as client:
        first = await client.next()
        assert (first.is_snapshot, first.sequence_number, first.environment_id) == (True, 4, str(env))
        assert [f.key for f in first.flags] == ["checkout"]
        change = world.replace_rules(env, "checkout", plan_is("pro"))
        delta = await client.next()
        assert (delta.is_snapshot, delta.sequence_number) == (False, change.position)
        assert [r.rule_id for r in delta.flags[0].rules] == ["r1"]


async def test_reconnecting_with_a_retained_sequence_gets_exactly_the_missed_deltas_also_after_restart() -> (
    None
):
    world, env, raw, _ = setup()
    async with serving(world) as b:
        async with sdk(b.port, raw) as client:
            last = (await client.next()).sequence_number
        missed = [
            world.set_enabled(env, "checkout", False).position,
            world.create_segment(env, "vips").position,
            world.add_members(env, "vips", included=("ann",)).position,
        ]
        async with sdk(b.port, raw, since=last) as client:
            got = [await client.next() for _ in missed]
    assert [(m.sequence_number, m.is_snapshot) for m in got] == [(p, False) for p in missed]
    assert list(got[2].changed_list_segment_keys) == ["vips"]
    async with serving(world) as restarted, sdk(restarted.port, raw, since=last) as client:
        again = [await client.next() for _ in missed]
    assert [without_time(m) for m in again] == [without_time(m) for m in got]


def without_time(msg: SyncResponse) -> SyncResponse:
    msg.server_timestamp_ms = 0
    return msg


async def test_a_sequence_older_than_the_retained_history_gets_a_snapshot() -> None:
    world, env, raw, _ = setup()
    old = world.log.records[-1].position
    for enabled in (False, True, False):
        world.set_enabled(env, "checkout", enabled)
    async with serving(world, history_limit=2) as b, sdk(b.port, raw, since=old) as client:
        msg = await client.next()
        assert (msg.is_snapshot, msg.sequence_number) == (True, world.log.records[-1].position)


async def test_an_up_to_date_sdk_gets_a_heartbeat_with_the_current_sequence() -> None:
    world, _, raw, _ = setup()
    current = world.log.records[-1].position
    async with serving(world, heartbeat=0.05) as b, sdk(b.port, raw, since=current) as client:
        beats = [await client.next(heartbeats=True) for _ in range(3)]
    assert [(m.is_heartbeat, m.sequence_number, m.flags) for m in beats] == [(True, current, [])] * 3


async def test_revoking_the_key_ends_its_open_stream_unauthenticated() -> None:
    world, env, raw, key_id = setup()
    async with serving(world) as b, sdk(b.port, raw) as client:
        await client.next()
        world.revoke_key(env, key_id)
        with pytest.raises(GRPCError) as caught:
            await client.next()
        assert caught.value.status is Status.UNAUTHENTICATED


@pytest.mark.parametrize("key", ["", "sdk_live_unknown"])
async def test_a_missing_or_unknown_key_is_unauthenticated(key: str) -> None:
    world, _, _, _ = setup()
    async with serving(world) as b, sdk(b.port, key) as client:
        with pytest.raises(GRPCError) as caught:
            await client.next()
        assert caught.value.status is Status.UNAUTHENTICATED


async def test_asking_for_another_environment_is_not_found() -> None:
    world, _, raw, _ = setup()
    async with serving(world) as b, sdk(b.port, raw, env=str(uuid4())) as client:
        with pytest.raises(GRPCError) as caught:
            await client.next()
        assert caught.value.status is Status.NOT_FOUND


async def test_unary_sync_returns_the_snapshot() -> None:
    world, env, raw, _ = setup()
    async with serving(world) as b:
        channel = Channel("127.0.0.1", b.port)
        try:
            stub = FlagSyncServiceStub(channel, metadata={"x-sdk-key": raw}, timeout=WAIT)
            msg = await stub.sync(SyncRequest())
        finally:
            channel.close()
    assert (msg.is_snapshot, msg.environment_id, [f.key for f in msg.flags]) == (True, str(env), ["checkout"])


async def test_a_client_that_goes_away_frees_its_stream() -> None:
    world, _, raw, _ = setup()
    async with serving(world) as b:
        assert b.service is not None
        async with sdk(b.port, raw) as client:
            await client.next()
            assert b.service.open_streams == 1
        async with asyncio.timeout(WAIT):
            while b.service.open_streams:  # noqa: ASYNC110 (a counter is what is observed)
                await asyncio.sleep(0.01)
