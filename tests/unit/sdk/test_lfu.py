"""The SDK's LFU membership cache against a plain reference model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stitchd_sdk.lfu import LfuCache, MembershipKey

KEYS = st.tuples(st.sampled_from(["beta", "vip"]), st.just("user"), st.sampled_from(list("abcdef")))


class ReferenceLfu:
    """Obvious O(n) LFU with LRU tie-break: the specification."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.values: dict[MembershipKey, bool] = {}
        self.freq: dict[MembershipKey, int] = {}
        self.last_use: dict[MembershipKey, int] = {}
        self.clock = 0

    def _use(self, key: MembershipKey) -> None:
        self.clock += 1
        self.freq[key] = self.freq.get(key, 0) + 1
        self.last_use[key] = self.clock

    def get(self, key: MembershipKey) -> bool | None:
        if key not in self.values:
            return None
        self._use(key)
        return self.values[key]

    def put(self, key: MembershipKey, value: bool) -> None:
        if key not in self.values and len(self.values) >= self.capacity:
            victim = min(self.values, key=lambda k: (self.freq[k], self.last_use[k]))
            for table in (self.values, self.freq, self.last_use):
                del table[victim]
        self.values[key] = value
        self._use(key)

    def invalidate_segment(self, segment: str) -> None:
        for key in [k for k in self.values if k[0] == segment]:
            for table in (self.values, self.freq, self.last_use):
                del table[key]


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("get"), KEYS, st.none()),
        st.tuples(st.just("put"), KEYS, st.booleans()),
        st.tuples(st.just("inv"), st.sampled_from(["beta", "vip"]), st.none()),
    ),
    max_size=60,
)


@given(capacity=st.integers(1, 5), ops=OPS)
def test_cache_behaves_like_the_reference_lfu(capacity: int, ops: list[tuple[str, object, object]]) -> None:
    cache, model = LfuCache(capacity), ReferenceLfu(capacity)
    for op, arg, value in ops:
        if op == "get":
            assert cache.get(arg) == model.get(arg)  # type: ignore[arg-type]
        elif op == "put":
            cache.put(arg, value)  # type: ignore[arg-type]
            model.put(arg, value)  # type: ignore[arg-type]
        else:
            cache.invalidate_segment(arg)  # type: ignore[arg-type]
            model.invalidate_segment(arg)  # type: ignore[arg-type]
        assert len(cache) == len(model.values) <= capacity


def test_frequently_used_entries_survive_eviction() -> None:
    cache = LfuCache(2)
    hot, cold, new = ("s", "user", "hot"), ("s", "user", "cold"), ("s", "user", "new")
    cache.prewarm([(hot, True), (cold, False)])
    for _ in range(3):
        assert cache.get(hot) is True
    cache.put(new, True)
    assert cache.get(cold) is None
    assert cache.get(hot) is True
    assert cache.get(new) is True


def test_invalidating_a_segment_drops_only_its_memberships() -> None:
    cache = LfuCache(10)
    cache.prewarm([(("beta", "user", "a"), True), (("vip", "user", "a"), False)])
    assert cache.invalidate_segment("beta") == 1
    assert cache.get(("beta", "user", "a")) is None
    assert cache.get(("vip", "user", "a")) is False


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        LfuCache(0)
