"""Hypothesis strategies for evaluation: contexts, conditions, flags and segments that often match.

Values come from small shared pools so that conditions and contexts collide (a random leaf over random
text almost never matches); every drawn condition is valid for `domain.conditions.codec`, every flag
is valid by the aggregates' rules (known variants, typed values, weights summing to 100 %).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from domain.conditions.ast import And, Attribute, Condition, Leaf, LeafValue, Not, Op, Or
from domain.conditions.segments import StaticSegments
from domain.context import Context, ContextSet, ParamValue
from domain.flags.model import (
    TOTAL_WEIGHT_MILLI,
    Allocation,
    Bucket,
    FlagConfig,
    FlagDefinition,
    FlagValue,
    HashSpec,
    ListSegmentMeta,
    Rule,
    RuleSegment,
    Serve,
    ValueType,
    Variant,
)

CONTEXT_TYPES = ("user", "org", "device")
PARAM_NAMES = ("country", "plan", "age", "score", "version", "signup", "beta", "email")
SEGMENT_KEYS = ("seg-a", "seg-b", "list-a", "list-b", "missing")
WORDS = ("US", "DE", "pro", "free", "enterprise", "a@x.io", "b@y.com", "", "us", "1.2.3")
SEMVERS = ("1.0.0", "1.2.3", "1.2.3-beta.1", "2.0.0-alpha", "2.0.0", "0.9.10", "10.0.0-rc.1+b5")
DATES = ("2024-01-01", "2024-06-30T12:00:00Z", "2025-01-01T00:00:00+02:00", "2023-12-31T23:59:59")
PATTERNS = ("^US$", "@x\\.io$", "^[a-z]+$", "pro|free", "^1\\.", "a.*b")

int64s = st.integers(-(2**63), 2**63 - 1)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
small_numbers: st.SearchStrategy[int | float] = st.integers(-3, 40) | st.sampled_from(
    [0.5, 18.0, 21.5, -1.25]
)
words = st.sampled_from(WORDS)
scalars: st.SearchStrategy[bool | int | float | str] = (
    st.booleans() | small_numbers | words | st.sampled_from(SEMVERS + DATES)
)
param_values: st.SearchStrategy[ParamValue] = scalars | int64s | finite_floats | st.text(max_size=8)
context_types = st.sampled_from(CONTEXT_TYPES)
attributes = st.builds(Attribute, context_types, st.none() | st.sampled_from(PARAM_NAMES))
uuids = st.uuids()


@st.composite
def contexts(draw: st.DrawFn, context_type: str) -> Context:
    """One context with parameters from the shared pools, some of them private."""
    parameters = draw(st.dictionaries(st.sampled_from(PARAM_NAMES), param_values, max_size=5))
    private = (
        draw(st.frozensets(st.sampled_from(sorted(parameters)), max_size=2)) if parameters else frozenset()
    )
    key = draw(words | st.text(max_size=6))
    return Context(context_type=context_type, key=key, parameters=parameters, private_parameters=private)


@st.composite
def context_sets(draw: st.DrawFn, min_size: int = 0) -> ContextSet:
    """Zero to three contexts, at most one per context type."""
    types = draw(st.lists(context_types, min_size=min_size, max_size=3, unique=True))
    return ContextSet(tuple(draw(contexts(t)) for t in types))


_LEAF_VALUES: dict[Op, st.SearchStrategy[Any]] = {
    Op.EQ: scalars,
    Op.NEQ: scalars,
    Op.IN: st.lists(scalars, max_size=4).map(tuple),
    Op.NOT_IN: st.lists(scalars, max_size=4).map(tuple),
    Op.CONTAINS: words | st.lists(words, min_size=1, max_size=3).map(tuple),
    Op.NOT_CONTAINS: words,
    Op.STARTS_WITH: words,
    Op.ENDS_WITH: words | st.lists(words, min_size=1, max_size=2).map(tuple),
    Op.MATCHES: st.sampled_from(PATTERNS),
    Op.LT: small_numbers,
    Op.LTE: small_numbers,
    Op.GT: small_numbers,
    Op.GTE: small_numbers | int64s,
    Op.BEFORE: st.sampled_from(DATES) | st.integers(0, 2**45),
    Op.AFTER: st.sampled_from(DATES) | st.integers(0, 2**45),
    Op.EXISTS: st.none(),
    Op.NOT_EXISTS: st.none(),
    Op.IN_SEGMENT: st.sampled_from(SEGMENT_KEYS),
    Op.NOT_IN_SEGMENT: st.sampled_from(SEGMENT_KEYS),
} | {op: st.sampled_from(SEMVERS) for op in Op if op.value.startswith("semver_")}


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    """A leaf whose constant is valid for its operator."""
    op: Op = draw(st.sampled_from(list(Op)))
    value: LeafValue = draw(_LEAF_VALUES[op])
    return Leaf(attribute=draw(attributes), op=op, value=value)


def _compound(children: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    many = st.lists(children, max_size=3).map(tuple)
    return st.builds(And, many) | st.builds(Or, many) | st.builds(Not, children)


conditions: st.SearchStrategy[Condition] = st.recursive(leaves(), _compound, max_leaves=8)

_VARIANT_VALUES: dict[ValueType, st.SearchStrategy[FlagValue]] = {
    ValueType.BOOL: st.booleans(),
    ValueType.INT: int64s,
    ValueType.DOUBLE: finite_floats,
    ValueType.STRING: st.text(max_size=8),
    ValueType.JSON: st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
}
hash_specs: st.SearchStrategy[HashSpec] = st.dictionaries(
    context_types, st.lists(st.sampled_from(PARAM_NAMES), max_size=2, unique=True).map(tuple), max_size=2
)


@st.composite
def weights(draw: st.DrawFn, count: int) -> tuple[int, ...]:
    """`count` weights in units of 0.1 % summing to 100 %."""
    cuts = sorted(draw(st.lists(st.integers(0, TOTAL_WEIGHT_MILLI), min_size=count - 1, max_size=count - 1)))
    edges = [0, *cuts, TOTAL_WEIGHT_MILLI]
    return tuple(edges[i + 1] - edges[i] for i in range(count))


@st.composite
def allocations(draw: st.DrawFn, variant_keys: list[str]) -> Allocation:
    """Buckets over distinct variants whose weights sum to 100 %."""
    chosen = draw(st.lists(st.sampled_from(variant_keys), min_size=1, max_size=4, unique=True))
    shares = draw(weights(len(chosen)))
    return Allocation(buckets=tuple(map(Bucket, chosen, shares)), hash_spec=draw(hash_specs))


def serves(variant_keys: list[str]) -> st.SearchStrategy[Serve]:
    """Serve one of the variants, or split between them."""
    return st.builds(Serve, variant_key=st.sampled_from(variant_keys)) | st.builds(
        Serve, allocation=allocations(variant_keys)
    )


@st.composite
def flag_definitions(draw: st.DrawFn) -> FlagDefinition:
    """A valid flag in one environment with up to four rules."""
    value_type = draw(st.sampled_from(ValueType))
    variant_keys = draw(
        st.lists(st.sampled_from(["on", "off", "a", "b", "c"]), min_size=1, max_size=4, unique=True)
    )
    variants = tuple(Variant(key=k, value=draw(_VARIANT_VALUES[value_type])) for k in variant_keys)
    rules = tuple(
        Rule(id=f"r{i}", condition=draw(conditions), serve=draw(serves(variant_keys)))
        for i in range(draw(st.integers(0, 4)))
    )
    config = FlagConfig(
        enabled=draw(st.booleans()),
        off_variant=draw(st.sampled_from(variant_keys)),
        fallthrough=draw(serves(variant_keys)),
        rules=rules,
        hashing=draw(hash_specs),
    )
    return FlagDefinition(
        key=draw(st.sampled_from(["f", "checkout", "new-ui"])),
        project_id=draw(uuids),
        environment_id=draw(uuids),
        value_type=value_type,
        variants=variants,
        config=config,
        version=draw(st.integers(0, 100)),
    )


@st.composite
def segment_lookups(draw: st.DrawFn) -> StaticSegments:
    """Rule segments seg-a/seg-b (which may refer to each other) and list segments list-a/list-b."""
    rules = [
        RuleSegment(id=UUID(int=i + 1), key=key, context_type=draw(context_types), condition=draw(conditions))
        for i, key in enumerate(("seg-a", "seg-b"))
    ]
    lists = [ListSegmentMeta(id=UUID(int=i + 10), key=key, context_type=draw(context_types)) for i, key in
             enumerate(("list-a", "list-b"))]  # fmt: skip
    members = {
        "list-a": draw(st.lists(st.tuples(context_types, words), max_size=6)),
    }  # list-b has no member list: membership unknown
    return StaticSegments(rules, lists, members)
