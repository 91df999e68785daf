"""Unknown SDK keys: remembered (bounded, expiring), and on-demand catch-ups rate-limited (issue 9 item 8)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from domain.envelope import RecordedEvent
from readmodels.definitions import DefinitionsCache
from readmodels.misses import MissCache
from tests.unit.sync_broadcaster.world import MemoryLog, World


class CountingLog:
    """A MemoryLog that counts its reads."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.reads = 0

    async def read_all(self, after_position: int, limit: int = 1000) -> Sequence[RecordedEvent]:
        self.reads += 1
        return await self.log.read_all(after_position, limit)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_flood_of_unknown_keys_costs_one_catch_up_per_interval() -> None:
    world, clock = World(), Clock()
    world.environment()
    log = CountingLog(world.log)
    cache = DefinitionsCache(refresh_interval=1.0, clock=clock)
    await cache.catch_up(log)
    before = log.reads
    for i in range(1_000):
        assert await cache.resolve_key(f"sdk_live_random{i}", log) is None
    assert log.reads - before == 1
    clock.now += 1.0
    for i in range(1_000):  # the same keys again: remembered, no read at all
        assert await cache.resolve_key(f"sdk_live_random{i}", log) is None
    assert log.reads - before == 1
    assert await cache.resolve_key("sdk_live_another", log) is None
    assert log.reads - before == 2


async def test_a_key_issued_after_it_was_tried_works_once_its_issuance_is_folded() -> None:
    world, clock = World(), Clock()
    env = world.environment()
    cache = DefinitionsCache(clock=clock)
    await cache.catch_up(world.log)
    raw = "sdk_live_soon_to_exist"
    assert await cache.resolve_key(raw, world.log) is None  # remembered as unknown
    _, key_id = world.issue_key(env, raw)
    await cache.catch_up(world.log)  # what the follower does on the issuance's wake-up
    assert await cache.resolve_key(raw, world.log) == (env, key_id)


async def test_a_key_issued_meanwhile_is_found_by_the_refresh() -> None:
    world, clock = World(), Clock()
    env = world.environment()
    cache = DefinitionsCache(clock=clock)
    await cache.catch_up(world.log)
    raw, key_id = world.issue_key(env)
    assert await cache.resolve_key(raw, world.log) == (env, key_id)


@given(st.lists(st.sampled_from("abcdefgh"), max_size=60), st.integers(1, 5))
def test_the_miss_cache_is_bounded_and_keeps_the_newest(keys: list[str], limit: int) -> None:
    misses = MissCache(limit=limit, ttl=10.0, clock=lambda: 0.0)
    for key in keys:
        misses.add(key)
    assert len(misses) <= limit
    newest = list(dict.fromkeys(reversed(keys)))[:limit]
    assert all(key in misses for key in newest)


def test_a_miss_expires_after_its_ttl() -> None:
    clock = Clock()
    misses = MissCache(ttl=5.0, clock=clock)
    misses.add("k")
    clock.now = 4.9
    assert "k" in misses
    clock.now = 5.0
    assert "k" not in misses
    assert len(misses) == 0


class SlowLog(CountingLog):
    """Reads that take a moment, so concurrent callers overlap."""

    async def read_all(self, after_position: int, limit: int = 1000) -> Sequence[RecordedEvent]:
        await asyncio.sleep(0.01)
        return await super().read_all(after_position, limit)


async def test_concurrent_reach_calls_share_one_catch_up() -> None:
    world = World()
    world.environment()
    for key in "abc":
        world.create_flag(key)
    log = SlowLog(world.log)
    cache = DefinitionsCache()
    await asyncio.gather(*(cache.reach(4, log) for _ in range(50)))
    assert cache.position == 4
    assert log.reads <= 2  # one catch-up (a read, and none after the last page); not one per caller
