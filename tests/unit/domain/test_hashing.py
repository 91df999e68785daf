"""Allocation hashing: a frozen canonical format, uniform slots, stable bucket layout."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.context import Context, ContextSet
from domain.flags.model import HASH_SPACE, TOTAL_WEIGHT_MILLI, Allocation, Bucket, HashSpec
from domain.hashing import bucket_of, canonical_string, pick_bucket, slot_of, validate_allocation
from tests.strategies import weights

P = UUID("11111111-1111-1111-1111-111111111111")
E = UUID("22222222-2222-2222-2222-222222222222")
HEAD = f"{P}:{E}:"
USER: HashSpec = {"user": ()}
PRICING_CONTEXTS = ContextSet(
    (
        Context(
            context_type="user", key="u1", parameters={"plan": "pro", "seats": 3, "beta": True, "score": 2.0}
        ),
        Context(context_type="org", key="acme"),
    )
)

# Changing any of these changes every user's variant in every running experiment: never edit them.
GOLDEN = [
    ("new-checkout", ContextSet.single("user", "user-42"), USER, "new-checkout:user=user-42", 29921),
    ("new-checkout", ContextSet.single("user", "user-43"), USER, "new-checkout:user=user-43", 60598),
    ("a:b|c", ContextSet.single("user", "x=y,z\\"), USER, "a\\:b\\|c:user=x\\=y\\,z\\\\", 64553),
    (
        "pricing",
        PRICING_CONTEXTS,
        {"user": ("plan", "seats", "beta", "score"), "org": ()},
        "pricing:org=acme|user=pro,3,true,2",
        61394,
    ),
    ("unicode", ContextSet.single("user", "Zoë 😀"), USER, "unicode:user=Zoë 😀", 41504),
]


@pytest.mark.parametrize(("flag", "contexts", "spec", "tail", "slot"), GOLDEN)
def test_golden_vectors_freeze_the_canonical_format(
    flag: str, contexts: ContextSet, spec: HashSpec, tail: str, slot: int
) -> None:
    assert canonical_string(flag, P, E, contexts, spec) == HEAD + tail
    assert bucket_of(flag, P, E, contexts, spec) == slot


def test_spec_order_does_not_matter() -> None:
    forward = {"user": ("plan",), "org": ()}
    backward = {"org": (), "user": ("plan",)}
    assert bucket_of("f", P, E, PRICING_CONTEXTS, forward) == bucket_of("f", P, E, PRICING_CONTEXTS, backward)


@pytest.mark.parametrize("spec", [{"device": ()}, {"user": ("missing",)}, {"user": (), "device": ()}])
def test_a_missing_context_or_parameter_cannot_be_hashed(spec: HashSpec) -> None:
    assert bucket_of("f", P, E, PRICING_CONTEXTS, spec) is None


def test_flag_project_and_environment_each_change_the_slot() -> None:
    contexts = ContextSet.single("user", "u")
    slots = {
        bucket_of("f", P, E, contexts, USER),
        bucket_of("g", P, E, contexts, USER),
        bucket_of("f", E, E, contexts, USER),
        bucket_of("f", P, P, contexts, USER),
    }
    assert len(slots) == 4


@settings(deadline=None)
@given(st.text())
def test_slots_stay_in_range_for_any_text(text: str) -> None:
    assert 0 <= slot_of(text) < HASH_SPACE


def _slots(flag: str, n: int = 100_000) -> list[int]:
    return [slot_of(f"{HEAD}{flag}:user=user-{i}") for i in range(n)]


@settings(max_examples=5, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_a_50_50_split_of_100000_keys_is_within_tolerance(flag: str) -> None:
    buckets = (Bucket("a", 500), Bucket("b", 500))
    hits = sum(1 for s in _slots(flag) if pick_bucket(buckets, s) == buckets[0])
    # Binomial sd is ~158; 5 sd would be exceeded by chance about once in 1.7 million runs.
    assert abs(hits - 50_000) < 5 * 158


def test_a_33_33_34_split_is_within_tolerance() -> None:
    buckets = (Bucket("a", 330), Bucket("b", 330), Bucket("c", 340))
    counts = {"a": 0, "b": 0, "c": 0}
    for s in _slots("three-way"):
        bucket = pick_bucket(buckets, s)
        assert bucket is not None
        counts[bucket.variant_key] += 1
    for key, share in (("a", 0.33), ("b", 0.33), ("c", 0.34)):
        sd = (100_000 * share * (1 - share)) ** 0.5
        assert abs(counts[key] - 100_000 * share) < 5 * sd


def test_raising_a_weight_from_20_to_30_percent_only_moves_contexts_into_it() -> None:
    before = (Bucket("treatment", 200), Bucket("control", 800))
    after = (Bucket("treatment", 300), Bucket("control", 700))
    moved = 0
    for s in _slots("experiment"):
        old, new = pick_bucket(before, s), pick_bucket(after, s)
        assert old is not None
        assert new is not None
        if old.variant_key == "treatment":
            assert new.variant_key == "treatment"
        moved += old.variant_key != new.variant_key
    assert abs(moved - 10_000) < 5 * 95  # ~10 % of contexts move, all of them into treatment


@settings(deadline=None)
@given(
    weights(4),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, TOTAL_WEIGHT_MILLI),
    st.lists(st.integers(0, HASH_SPACE - 1), max_size=200),
)
def test_growing_a_bucket_never_moves_a_context_out_of_it(
    shares: tuple[int, ...], grow: int, shrink: int, delta: int, slots: list[int]
) -> None:
    if grow == shrink:
        return
    delta = min(delta, shares[shrink])
    new_shares = list(shares)
    new_shares[grow] += delta
    new_shares[shrink] -= delta
    before = tuple(Bucket(f"v{i}", w) for i, w in enumerate(shares))
    after = tuple(Bucket(f"v{i}", w) for i, w in enumerate(new_shares))
    for s in slots:
        old, new = pick_bucket(before, s), pick_bucket(after, s)
        assert old is not None
        assert new is not None
        if old.variant_key == f"v{grow}":
            assert new.variant_key == f"v{grow}"
        if (
            abs(grow - shrink) == 1 and old.variant_key != new.variant_key
        ):  # neighbours: only the slice between them changes hands
            assert (old.variant_key, new.variant_key) == (f"v{shrink}", f"v{grow}")


@settings(deadline=None)
@given(weights(3), st.integers(0, HASH_SPACE - 1))
def test_buckets_are_laid_out_cumulatively_in_declared_order(shares: tuple[int, ...], slot: int) -> None:
    buckets = tuple(Bucket(f"v{i}", w) for i, w in enumerate(shares))
    bucket = pick_bucket(buckets, slot)
    assert bucket is not None
    i = buckets.index(bucket)
    assert sum(shares[:i]) * 100 <= slot < sum(shares[: i + 1]) * 100


def test_validate_allocation_reports_each_problem() -> None:
    good = Allocation(buckets=(Bucket("a", 250), Bucket("b", 750)))
    assert validate_allocation(good, {"a", "b"}) == []
    bad = Allocation(buckets=(Bucket("a", 600), Bucket("a", -100), Bucket("z", 300)), hash_spec={"": ()})
    problems = validate_allocation(bad, {"a", "b"})
    assert any("unknown variant 'z'" in p for p in problems)
    assert any("appears twice" in p for p in problems)
    assert any("weight_milli" in p for p in problems)
    assert any("sum to 800" in p for p in problems)
    assert any("hash_spec" in p for p in problems)
    assert validate_allocation(Allocation(buckets=()), {"a"}) == ["an allocation needs at least one bucket"]


def test_lone_surrogates_hash_without_crashing() -> None:
    # mmh3 itself crashes on such a str; we hash the bytes "surrogatepass" writes.
    contexts = ContextSet.single("user", "a\udc80b")
    assert bucket_of("f", P, E, contexts, USER) == slot_of(f"{HEAD}f:user=a\udc80b")
    assert 0 <= slot_of("\ud800") < HASH_SPACE
