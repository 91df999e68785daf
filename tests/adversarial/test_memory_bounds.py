"""Issue 9 item 13: the gateway's exposure buffer and the definitions cache's delta history are bounded
(oldest dropped and counted), whatever a sink that stopped or a tenant that writes a lot does."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.segments.members import MAX_CONTEXT_KEY_LENGTH
from gateway.exposure_buffer import ExposureBuffer
from readmodels.definitions import DefinitionsCache, Delta
from schemas.http_context import (
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_ATTRIBUTE_STRING_LENGTH,
    MAX_ATTRIBUTES,
    MAX_CONTEXT_TYPE_LENGTH,
    MAX_CONTEXTS,
)
from schemas.http_ingest import ExposureBody, MetricEventBody
from schemas.http_sdk import EvaluateAllBody, EvaluateBody, ListCheckBody
from schemas.ingest import ExposureMsg
from tests.metrics_support import metrics_on, scraped
from tests.unit.sync_broadcaster.world import World


class StuckSink:
    """A sink whose JetStream never answers: every record waits until the test ends."""

    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()

    async def record(self, exposure: ExposureMsg) -> None:
        self.started += 1
        await self.release.wait()


def exposure(i: int) -> ExposureMsg:
    return ExposureMsg(
        event_id=f"e{i}",
        environment_id="00000000-0000-0000-0000-000000000001",
        flag_key="f",
        variant_key="on",
        context_type="user",
        context_key=f"u{i}",
        sequence=1,
        timestamp_ms=0,
    )


async def test_a_stuck_sink_keeps_the_newest_exposures_and_counts_the_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, now = StuckSink(), [0.0]
    buffer = ExposureBuffer(sink, max_batch=10, max_pending=100, clock=lambda: now[0])
    with metrics_on(), caplog.at_level(logging.WARNING, "stitchd.gateway.exposures"):
        before = scraped("stitchd_exposure_buffer_dropped_total")
        for i in range(1000):
            buffer.add(exposure(i))
        await asyncio.sleep(0.01)  # the flusher takes one batch and waits on the sink
        for i in range(1000, 1500):
            now[0] += 0.1
            buffer.add(exposure(i))
        dropped_metric = scraped("stitchd_exposure_buffer_dropped_total") - before
    assert dropped_metric == buffer.dropped
    assert sink.started == 10  # one batch in flight
    assert len(buffer) == 100
    assert buffer.dropped == 1500 - 100 - 10
    kept = [buffer._pending[i].event_id for i in range(len(buffer))]
    assert kept == [f"e{i}" for i in range(1400, 1500)]  # the newest
    reports = [r.getMessage() for r in caplog.records if "exposure buffer full" in r.getMessage()]
    assert 2 <= len(reports) <= 7  # at first, then at most once per 10 s of the fake clock (50 s)
    sink.release.set()
    await asyncio.sleep(0.01)


# --- context sizes in SDK bodies ------------------------------------------------------------------

CONTEXT_BODIES = [
    (EvaluateBody, {"flag_key": "f"}),
    (EvaluateAllBody, {}),
    (ListCheckBody, {"segment_key": "s"}),
    (MetricEventBody, {"metric_key": "m"}),
    (ExposureBody, {"flag_key": "f", "variant_key": "v"}),
]


@pytest.mark.parametrize(("body", "extra"), CONTEXT_BODIES)
@settings(max_examples=30)
@given(length=st.integers(1, 3 * MAX_CONTEXT_KEY_LENGTH))
def test_context_keys_up_to_a_list_member_key_are_accepted_longer_refused(
    body: type[msgspec.Struct], extra: dict[str, object], length: int
) -> None:
    raw = msgspec.json.encode({**extra, "context_key": "k" * length})
    if length <= MAX_CONTEXT_KEY_LENGTH:
        msgspec.json.decode(raw, type=body)
    else:
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(raw, type=body)


@pytest.mark.parametrize(("body", "extra"), CONTEXT_BODIES)
def test_context_types_are_bounded(body: type[msgspec.Struct], extra: dict[str, object]) -> None:
    raw = {**extra, "context_key": "u1", "context_type": "t" * (MAX_CONTEXT_TYPE_LENGTH + 1)}
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(raw), type=body)


@pytest.mark.parametrize(
    "shape",
    [
        {"attributes": {f"a{i}": i for i in range(MAX_ATTRIBUTES + 1)}},
        {"attributes": {"a" * (MAX_ATTRIBUTE_NAME_LENGTH + 1): 1}},
        {"attributes": {"plan": "p" * (MAX_ATTRIBUTE_STRING_LENGTH + 1)}},
        {"attributes": {"n": 2**64}},
        {"private_attributes": [f"a{i}" for i in range(MAX_ATTRIBUTES + 1)]},
        {"contexts": [{"context_type": f"t{i}", "context_key": "k"} for i in range(MAX_CONTEXTS + 1)]},
        {"contexts": [{"context_type": "user", "context_key": "k", "attributes": {"x": "y" * 5000}}]},
    ],
)
def test_attributes_and_contexts_are_bounded(shape: dict[str, object]) -> None:
    body = {"flag_key": "f", **({} if "contexts" in shape else {"context_key": "u1"}), **shape}
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(body), type=EvaluateBody)


def test_a_big_but_bounded_context_is_accepted() -> None:
    body = {
        "flag_key": "f",
        "context_key": "k" * MAX_CONTEXT_KEY_LENGTH,
        "attributes": {f"a{i}": "v" * MAX_ATTRIBUTE_STRING_LENGTH for i in range(MAX_ATTRIBUTES)},
    }
    decoded = msgspec.json.decode(msgspec.json.encode(body), type=EvaluateBody)
    assert len(decoded.attributes) == MAX_ATTRIBUTES


# --- delta history bytes ----------------------------------------------------------------------------

# (environment index, enabled) per config change
CHANGES = st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=40)


def history_of(cache: DefinitionsCache, env: UUID) -> list[Delta]:
    found = cache.environment(env)
    return [] if found is None else list(found.history)


@settings(max_examples=60, deadline=None)
@given(changes=CHANGES, budget=st.integers(0, 6000))
async def test_history_is_bounded_by_bytes_dropping_the_oldest_and_replays_a_suffix(
    changes: list[tuple[int, bool]], budget: int
) -> None:
    world = World()
    envs = [world.environment() for _ in range(3)]
    world.create_flag("f")
    for i, env in enumerate(envs):
        world.configure(env, "f", enabled=i % 2 == 0)
    for index, enabled in changes:
        world.set_enabled(envs[index], "f", enabled=not enabled)  # a real change every time
        world.set_enabled(envs[index], "f", enabled=enabled)
    cache = DefinitionsCache(history_bytes=budget)
    await cache.catch_up(world.log)
    everything = DefinitionsCache(history_bytes=1 << 40)  # the same log, nothing dropped
    await everything.catch_up(world.log)
    every = sorted((d for env in envs for d in history_of(everything, env)), key=lambda d: d.sequence)
    expected: list[Delta] = []  # the longest run of newest deltas, all environments together, in budget
    for delta in reversed(every):
        if sum(len(msgspec.json.encode(d)) for d in [delta, *expected]) > budget:
            break
        expected.insert(0, delta)
    retained = sorted((d for env in envs for d in history_of(cache, env)), key=lambda d: d.sequence)
    assert retained == expected
    assert cache.history.held == sum(len(msgspec.json.encode(d)) for d in retained) <= budget
    for env in envs:
        mine, full = history_of(cache, env), history_of(everything, env)
        for j, delta in enumerate(mine):  # replay from any retained point is exactly the suffix
            assert cache.deltas_since(env, delta.previous) == mine[j:]
        if len(mine) < len(full):  # an SDK older than what is held gets a snapshot
            assert cache.deltas_since(env, full[0].previous) is None


async def test_one_delta_larger_than_the_budget_is_not_kept() -> None:
    world = World()
    env = world.environment()
    world.create_flag("f")
    start = world.configure(env, "f", enabled=True).position
    world.set_enabled(env, "f", enabled=False)
    cache = DefinitionsCache(history_bytes=10)
    await cache.catch_up(world.log)
    assert cache.history.held == 0
    assert cache.deltas_since(env, start) is None
    assert cache.history.dropped >= 1


async def test_deltas_dropped_by_the_count_limit_leave_no_bookkeeping_behind() -> None:
    world = World()
    env = world.environment()
    world.create_flag("f")
    world.configure(env, "f", enabled=True)
    for i in range(300):
        world.set_enabled(env, "f", enabled=i % 2 == 0)
    cache = DefinitionsCache(history_limit=2)
    await cache.catch_up(world.log)
    assert len(history_of(cache, env)) == 2
    assert cache.history.held == sum(len(msgspec.json.encode(d)) for d in history_of(cache, env))
    assert len(cache.history._order) <= 2 * 2 + 64 + 1
