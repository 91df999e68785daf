"""Bounded list memberships: over-budget segments become large and are answered through the LRU."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.context import ContextSet
from readmodels.definitions import DefinitionsCache
from readmodels.definitions_large import AnswerCache, Pair
from tests.unit.sync_broadcaster.world import World, in_segment

SEGMENTS = ("s1", "s2")
KEYS = ("ann", "bob", "cy", "dee", "eve")


class SetModel:
    """The read model as plain sets; a MemberFetch that records what it was asked."""

    def __init__(self) -> None:
        self.included: dict[str, set[str]] = {s: set() for s in SEGMENTS}
        self.excluded: dict[str, set[str]] = {s: set() for s in SEGMENTS}
        self.calls: list[tuple[int, list[Pair]]] = []

    def member(self, segment: str, key: str) -> bool:
        return key in self.included[segment] and key not in self.excluded[segment]

    async def fetch(self, env: UUID, position: int, pairs: Sequence[Pair]) -> dict[Pair, bool]:
        self.calls.append((position, list(pairs)))
        return {(s, k): self.member(s, k) for s, k in pairs}


def every_check() -> list[tuple[str, str, str]]:
    return [(s, "user", k) for s in SEGMENTS for k in KEYS]


def test_the_lru_evicts_the_least_recently_used() -> None:
    lru = AnswerCache(2)
    env = UUID(int=1)
    lru.put((env, "s", 1, "a"), True)
    lru.put((env, "s", 1, "b"), False)
    assert lru.get((env, "s", 1, "a")) is True  # "a" is now the most recent
    lru.put((env, "s", 1, "c"), True)
    assert (lru.get((env, "s", 1, "b")), lru.get((env, "s", 1, "a")), len(lru)) == (None, True, 2)


async def test_a_segment_crossing_the_budget_becomes_large_and_is_read_once_per_change() -> None:
    world, model = World(), SetModel()
    env = world.environment()
    world.create_segment(env, "s1")
    world.add_members(env, "s1", included=("ann", "bob"))
    model.included["s1"] |= {"ann", "bob"}
    cache = DefinitionsCache(member_budget=2)
    await cache.catch_up(world.log)
    state = cache.environment(env)
    assert state is not None
    assert ("s1" in state.large, state.held) == (False, 2)
    assert await cache.check_members(env, [("s1", "user", "ann")], model.fetch) == [True]
    assert model.calls == []  # small: answered from memory
    world.add_members(env, "s1", included=("cy",))
    model.included["s1"].add("cy")
    await cache.catch_up(world.log)
    assert ("s1" in state.large, "s1" in state.members, state.held) == (True, False, 0)
    checks = [("s1", "user", "cy"), ("s1", "user", "zed"), ("s1", "team", "cy")]
    assert await cache.check_members(env, checks, model.fetch) == [True, False, False]
    assert await cache.check_members(env, checks, model.fetch) == [True, False, False]
    assert model.calls == [(cache.position, [("s1", "cy"), ("s1", "zed")])]  # the second time: LRU hits
    world.remove_members(env, "s1", included=("cy",))
    model.included["s1"].discard("cy")
    await cache.catch_up(world.log)
    assert await cache.check_members(env, checks[:1], model.fetch) == [False]  # the event invalidated it
    assert len(model.calls) == 2
    world.clear_members(env, "s1")
    model.included["s1"].clear()
    await cache.catch_up(world.log)
    assert "s1" not in state.large  # an empty list fits again
    assert await cache.check_members(env, [("s1", "user", "ann")], model.fetch) == [False]
    assert len(model.calls) == 2


OPS = st.lists(
    st.tuples(
        st.sampled_from(["include", "exclude", "remove", "clear", "recreate"]),
        st.sampled_from(SEGMENTS),
        st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True),
    ),
    max_size=14,
)


@settings(max_examples=80, deadline=None)
@given(ops=OPS, budget=st.integers(min_value=0, max_value=6), lru=st.integers(min_value=1, max_value=4))
async def test_bounded_answers_equal_the_set_model_and_the_unbounded_cache(
    ops: list[tuple[str, str, list[str]]], budget: int, lru: int
) -> None:
    world, model = World(), SetModel()
    env = world.environment()
    for segment in SEGMENTS:
        world.create_segment(env, segment)
    bounded = DefinitionsCache(member_budget=budget, answer_limit=lru)
    unbounded = DefinitionsCache()
    for name, segment, keys in ops:
        inc, exc = model.included[segment], model.excluded[segment]
        if name == "include":
            world.add_members(env, segment, included=tuple(keys))
            inc.update(keys)
        elif name == "exclude":
            world.add_members(env, segment, excluded=tuple(keys))
            exc.update(keys)
        elif name == "remove":
            world.remove_members(env, segment, included=tuple(keys))
            inc.difference_update(keys)
        elif name == "clear":
            world.clear_members(env, segment)
            inc.clear()
            exc.clear()
        else:
            world.delete_segment(env, segment)
            world.create_segment(env, segment)
            inc.clear()
            exc.clear()
        await bounded.catch_up(world.log)
        await unbounded.catch_up(world.log)
        state = bounded.environment(env)
        assert state is not None
        assert state.held <= budget
        expected = [model.member(s, k) for s, _, k in every_check()]
        model.calls.clear()
        assert await bounded.check_members(env, every_check(), model.fetch) == expected
        assert [unbounded.is_list_member(env, s, t, k) for s, t, k in every_check()] == expected
        assert {position for position, _ in model.calls} <= {bounded.position}  # read at the cache's position


async def test_flag_evaluation_reads_a_large_segment_after_the_prefetch() -> None:
    world, model = World(), SetModel()
    env = world.environment()
    world.create_segment(env, "s1")
    world.add_members(env, "s1", included=("ann", "bob"))
    model.included["s1"] |= {"ann", "bob"}
    world.create_flag("new-ui")
    world.configure(env, "new-ui")
    world.replace_rules(env, "new-ui", in_segment("s1"), rule_id="vips")
    cache = DefinitionsCache(member_budget=1)
    await cache.catch_up(world.log)
    for key, rule in (("ann", "vips"), ("zed", None)):
        contexts = ContextSet.single("user", key)
        await cache.prefetch_large(env, contexts, model.fetch)
        assert cache.evaluate(env, "new-ui", contexts).rule_id == rule
    assert [pairs for _, pairs in model.calls] == [[("s1", "ann")], [("s1", "zed")]]


def test_large_list_reads_wait_for_the_projection_that_owns_the_members() -> None:
    """readmodels may not import projections, so the name is repeated: keep the two in step."""
    from projections import segments
    from readmodels.definitions_large import SEGMENTS_PROJECTION

    assert SEGMENTS_PROJECTION == segments.NAME
    assert "rm_segment_members" in segments.TABLES
