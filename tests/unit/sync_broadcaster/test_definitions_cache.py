"""DefinitionsCache: folding events into per-environment definitions, deltas, history and lookups."""

from __future__ import annotations

import asyncio

from domain.context import ContextSet
from domain.event_definitions.events import EventDefinitionCreated, EventDefinitionDeleted, MetricValueType
from domain.flags.events import FlagDetailsUpdated
from domain.flags.flag import flag_stream
from domain.flags.model import ErrorCode, Reason
from domain.ids import stream_id
from readmodels.definitions import DefinitionsCache
from tests.unit.sync_broadcaster.world import World, in_segment, plan_is


async def folded(world: World, history_limit: int = 1000) -> DefinitionsCache:
    cache = DefinitionsCache(history_limit=history_limit)
    await cache.catch_up(world.log)
    return cache


async def test_a_configured_flag_is_in_the_snapshot_at_the_configs_position() -> None:
    world = World()
    env = world.environment()
    world.create_flag("checkout")
    config = world.configure(env, "checkout", enabled=True)
    cache = await folded(world)
    snapshot = cache.snapshot(env)
    assert snapshot is not None
    assert snapshot.sequence == config.position == cache.sequence(env)
    assert [(f.key, f.config.enabled, f.environment_id) for f in snapshot.flags] == [("checkout", True, env)]


async def test_a_project_level_flag_event_changes_every_environment_of_the_project() -> None:
    world = World()
    prod, staging = world.environment(), world.environment()
    created = world.create_flag("banner")
    cache = await folded(world)
    for env in (prod, staging):
        deltas = cache.deltas_since(env, env_created_position(world, env))
        assert deltas is not None
        assert [(d.sequence, [f.key for f in d.flags]) for d in deltas] == [(created.position, ["banner"])]
        assert cache.sequence(env) == created.position


def env_created_position(world: World, env: object) -> int:
    return next(
        r.position
        for r in world.log.records
        if r.type == "environment.created" and str(env) in r.data.decode()
    )


async def test_an_environment_created_later_starts_with_the_projects_flags_and_no_history() -> None:
    world = World()
    world.environment()
    world.create_flag("banner")
    late = world.environment()
    cache = await folded(world)
    snapshot = cache.snapshot(late)
    assert snapshot is not None
    assert [f.key for f in snapshot.flags] == ["banner"]
    assert snapshot.sequence == world.log.records[-1].position
    assert cache.deltas_since(late, 1) is None


async def test_a_change_no_sdk_can_see_makes_no_delta_and_keeps_the_sequence() -> None:
    world = World()
    env = world.environment()
    world.create_flag("banner")
    before = await folded(world)
    world.add(FlagDetailsUpdated, flag_stream(world.project_id, "banner"), name="Banner", description="shown")
    after = await folded(world)
    assert after.sequence(env) == before.sequence(env)
    assert after.deltas_since(env, before.sequence(env)) == []


async def test_deleting_a_flag_sends_its_key_as_removed() -> None:
    world = World()
    env = world.environment()
    world.create_flag("old")
    cache = await folded(world)
    start = cache.sequence(env)
    deleted = world.delete_flag("old")
    await cache.catch_up(world.log)
    deltas = cache.deltas_since(env, start)
    assert deltas is not None
    assert [(d.sequence, d.removed_flag_keys, d.flags) for d in deltas] == [(deleted.position, ("old",), ())]
    snapshot = cache.snapshot(env)
    assert snapshot is not None
    assert snapshot.flags == ()


async def test_history_replays_exactly_the_missed_deltas_and_forgets_beyond_its_limit() -> None:
    world = World()
    env, other = world.environment(), world.environment()
    world.create_flag("f")
    positions = [world.configure(env, "f").position]
    elsewhere = world.configure(other, "f").position
    positions += [world.set_enabled(env, "f", enabled=i % 2 == 0).position for i in range(4)]
    cache = await folded(world, history_limit=3)
    replay = cache.deltas_since(env, positions[1])
    assert replay is not None
    assert [d.sequence for d in replay] == positions[2:]
    assert cache.deltas_since(env, positions[0]) is None  # fell out of the 3 retained deltas
    assert cache.deltas_since(env, positions[-1]) == []
    assert cache.deltas_since(env, positions[-1] + 100) is None  # a sequence this log never had
    assert cache.deltas_since(env, elsewhere) is None  # not a sequence of this environment


async def test_list_membership_is_answered_from_memory_with_exclusion_winning() -> None:
    world = World()
    env = world.environment()
    world.create_segment(env, "beta")
    world.add_members(env, "beta", included=("ann", "bob", "cy"), excluded=("bob",))
    cache = await folded(world)
    assert [cache.is_list_member(env, "beta", "user", k) for k in ("ann", "bob", "dan")] == [
        True,
        False,
        False,
    ]
    assert cache.is_list_member(env, "beta", "org", "ann") is False
    assert cache.is_list_member(env, "nope", "user", "ann") is None
    start = cache.sequence(env)
    removed = world.remove_members(env, "beta", included=("ann",))
    await cache.catch_up(world.log)
    deltas = cache.deltas_since(env, start)
    assert deltas is not None
    assert [(d.sequence, d.changed_list_segment_keys) for d in deltas] == [(removed.position, ("beta",))]
    assert cache.is_list_member(env, "beta", "user", "ann") is False
    world.clear_members(env, "beta")
    await cache.catch_up(world.log)
    assert cache.is_list_member(env, "beta", "user", "cy") is False


async def test_evaluation_uses_rule_and_list_segments_in_memory() -> None:
    world = World()
    env = world.environment()
    world.create_segment(env, "pros", plan_is("pro"))
    world.create_segment(env, "vips")
    world.add_members(env, "vips", included=("ann",))
    world.create_flag("new-ui")
    world.configure(env, "new-ui")
    world.replace_rules(env, "new-ui", in_segment("pros"), rule_id="pros")
    cache = await folded(world)
    pro = cache.evaluate(env, "new-ui", ContextSet.single("user", "zed", plan="pro"))
    free = cache.evaluate(env, "new-ui", ContextSet.single("user", "zed", plan="free"))
    assert (pro.variant_key, pro.reason, pro.rule_id, pro.sequence) == (
        "on",
        Reason.TARGETING_MATCH,
        "pros",
        cache.sequence(env),
    )
    assert (free.variant_key, free.reason) == ("off", Reason.DEFAULT)
    world.replace_rules(env, "new-ui", in_segment("vips"), rule_id="vips")
    await cache.catch_up(world.log)
    assert cache.evaluate(env, "new-ui", ContextSet.single("user", "ann")).rule_id == "vips"
    missing = cache.evaluate(env, "ghost", ContextSet.single("user", "ann"))
    assert (missing.error_code, missing.sequence) == (ErrorCode.FLAG_NOT_FOUND, cache.sequence(env))
    assert [r.flag_key for r in cache.evaluate_all(env, ContextSet.single("user", "ann"))] == ["new-ui"]


async def test_deleting_a_segment_removes_it_and_its_members() -> None:
    world = World()
    env = world.environment()
    world.create_segment(env, "vips")
    world.add_members(env, "vips", included=("ann",))
    cache = await folded(world)
    start = cache.sequence(env)
    world.delete_segment(env, "vips")
    await cache.catch_up(world.log)
    deltas = cache.deltas_since(env, start)
    assert deltas is not None
    assert [d.removed_segment_keys for d in deltas] == [("vips",)]
    assert cache.is_list_member(env, "vips", "user", "ann") is None


async def test_sdk_keys_resolve_to_their_environment_until_revoked_which_wakes_its_waiters() -> None:
    world = World()
    env = world.environment()
    raw, key_id = world.issue_key(env)
    cache = await folded(world)
    assert cache.key_owner(raw) == (env, key_id)
    assert cache.key_owner(raw + "x") is None
    woken = cache.changed(env)
    sequence = cache.sequence(env)
    world.revoke_key(env, key_id)
    await cache.catch_up(world.log)
    assert woken.done()
    assert cache.key_owner(raw) is None
    assert cache.sequence(env) == sequence  # a revocation is not a definition change


async def test_event_definitions_give_metric_value_types() -> None:
    world = World()
    env = world.environment()
    stream = stream_id("event_definition", env, "purchase")
    world.add(
        EventDefinitionCreated, stream, environment_id=env, key="purchase", value_type=MetricValueType.DOUBLE
    )
    cache = await folded(world)
    assert cache.event_type(env, "purchase") is MetricValueType.DOUBLE
    world.add(EventDefinitionDeleted, stream)
    await cache.catch_up(world.log)
    assert cache.event_type(env, "purchase") is None


async def test_wait_for_position_returns_once_a_follower_folds_it() -> None:
    world = World()
    world.environment()
    cache = DefinitionsCache()
    waiter = asyncio.create_task(cache.wait_for_position(1, within=5))
    await asyncio.sleep(0)
    await cache.catch_up(world.log)
    assert await waiter is True
    assert await cache.wait_for_position(99, within=0.01) is False
