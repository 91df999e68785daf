"""Hypothesis strategies for the evaluation model: contexts, conditions, flags and segments.

One set of builders draws from one of two `Pools`. WIDE draws arbitrary valid values for codec round
trips; MATCHING draws from small shared pools so conditions and contexts collide (a random leaf over
random text almost never matches), for evaluation semantics. Everything drawn is valid by the domain's
rules (keys match `domain.ids.KEY_PATTERN`, variant values fit the flag's value type, a serve has exactly
one target, allocation weights sum to 100 %), so properties may assume validity. Floats are finite:
JSON cannot carry NaN or infinity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
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

keys = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,15}", fullmatch=True)
uuids = st.uuids()
int64s = st.integers(-(2**63), 2**63 - 1)
# Symmetric: the condition codec refuses |value| > 2**63 - 1.
symmetric_int64s = st.integers(-(2**63 - 1), 2**63 - 1)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=16)
words = st.sampled_from(WORDS)
_fractions = st.sampled_from([0.5, 18.0, 21.5, -1.25])
small_numbers: st.SearchStrategy[int | float] = st.integers(-3, 40) | _fractions
semvers = st.tuples(*[st.integers(0, 99)] * 3).map(lambda v: ".".join(map(str, v)))
dates = st.dates().map(lambda d: d.isoformat())
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | symmetric_int64s | finite_floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@dataclass(frozen=True, eq=False)
class Pools:
    """Where drawn values come from (hashed by identity, so strategies built from it can be cached)."""

    context_types: st.SearchStrategy[str]
    names: st.SearchStrategy[str]  # parameter names: contexts, attributes, hash specs
    context_keys: st.SearchStrategy[str]
    param_values: st.SearchStrategy[ParamValue]
    max_params: int
    min_contexts: int
    leaf_values: Mapping[Op, st.SearchStrategy[Any]]
    max_leaves: int
    variant_keys: st.SearchStrategy[str]
    variant_values: Mapping[ValueType, st.SearchStrategy[FlagValue]]
    texts: st.SearchStrategy[str]  # names and descriptions
    rule_ids: st.SearchStrategy[list[str]]
    flag_keys: st.SearchStrategy[str]
    versions: st.SearchStrategy[int]
    archived: st.SearchStrategy[bool]
    distinct_buckets: bool


_SEMVER_OPS = [op for op in Op if op.value.startswith("semver_")]
_wide_scalars: st.SearchStrategy[bool | int | float | str] = (
    st.booleans() | symmetric_int64s | finite_floats | texts
)
_pool_scalars: st.SearchStrategy[bool | int | float | str] = (
    st.booleans() | small_numbers | words | st.sampled_from(SEMVERS + DATES)
)
_wide_numbers = symmetric_int64s | finite_floats

WIDE = Pools(
    context_types=st.sampled_from(["user", "org", "device"]) | keys,
    names=keys,
    context_keys=keys,
    param_values=_wide_scalars,
    max_params=4,
    min_contexts=1,
    leaf_values={
        **dict.fromkeys([Op.EQ, Op.NEQ], _wide_scalars),
        **dict.fromkeys([Op.IN, Op.NOT_IN], st.lists(_wide_scalars, max_size=4).map(tuple)),
        **dict.fromkeys([Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH], texts),
        Op.MATCHES: st.sampled_from(["^a", "b+$", "[0-9]{2}"]),
        **dict.fromkeys([Op.LT, Op.LTE, Op.GT, Op.GTE], _wide_numbers),
        **dict.fromkeys(_SEMVER_OPS, semvers),
        **dict.fromkeys([Op.BEFORE, Op.AFTER], dates),
        **dict.fromkeys([Op.EXISTS, Op.NOT_EXISTS], st.none()),
        **dict.fromkeys([Op.IN_SEGMENT, Op.NOT_IN_SEGMENT], keys),
    },
    max_leaves=6,
    variant_keys=keys,
    variant_values={
        ValueType.BOOL: st.booleans(),
        ValueType.INT: symmetric_int64s,
        ValueType.DOUBLE: finite_floats,
        ValueType.STRING: texts,
        ValueType.JSON: json_values,
    },
    texts=texts,
    rule_ids=st.lists(keys, max_size=3, unique=True),
    flag_keys=keys,
    versions=st.integers(0, 2**63 - 1),
    archived=st.booleans(),
    distinct_buckets=False,
)

MATCHING = Pools(
    context_types=st.sampled_from(CONTEXT_TYPES),
    names=st.sampled_from(PARAM_NAMES),
    context_keys=words | st.text(max_size=6),
    param_values=_pool_scalars | int64s | finite_floats | st.text(max_size=8),
    max_params=5,
    min_contexts=0,
    leaf_values={
        **dict.fromkeys([Op.EQ, Op.NEQ], _pool_scalars),
        **dict.fromkeys([Op.IN, Op.NOT_IN], st.lists(_pool_scalars, max_size=4).map(tuple)),
        Op.CONTAINS: words | st.lists(words, min_size=1, max_size=3).map(tuple),
        **dict.fromkeys([Op.NOT_CONTAINS, Op.STARTS_WITH], words),
        Op.ENDS_WITH: words | st.lists(words, min_size=1, max_size=2).map(tuple),
        Op.MATCHES: st.sampled_from(PATTERNS),
        **dict.fromkeys([Op.LT, Op.LTE, Op.GT], small_numbers),
        Op.GTE: small_numbers | symmetric_int64s,
        **dict.fromkeys([Op.BEFORE, Op.AFTER], st.sampled_from(DATES) | st.integers(0, 2**45)),
        **dict.fromkeys([Op.EXISTS, Op.NOT_EXISTS], st.none()),
        **dict.fromkeys([Op.IN_SEGMENT, Op.NOT_IN_SEGMENT], st.sampled_from(SEGMENT_KEYS)),
        **dict.fromkeys(_SEMVER_OPS, st.sampled_from(SEMVERS)),
    },
    max_leaves=8,
    variant_keys=st.sampled_from(["on", "off", "a", "b", "c"]),
    variant_values={
        ValueType.BOOL: st.booleans(),
        ValueType.INT: int64s,
        ValueType.DOUBLE: finite_floats,
        ValueType.STRING: st.text(max_size=8),
        ValueType.JSON: st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    },
    texts=st.just(""),
    rule_ids=st.integers(0, 4).map(lambda n: [f"r{i}" for i in range(n)]),
    flag_keys=st.sampled_from(["f", "checkout", "new-ui"]),
    versions=st.integers(0, 100),
    archived=st.just(False),
    distinct_buckets=True,
)


@st.composite
def contexts(draw: st.DrawFn, pools: Pools, context_type: st.SearchStrategy[str] | None = None) -> Context:
    """One context with typed parameters, some of them private."""
    parameters = draw(st.dictionaries(pools.names, pools.param_values, max_size=pools.max_params))
    private = (
        draw(st.frozensets(st.sampled_from(sorted(parameters)), max_size=2)) if parameters else frozenset()
    )
    return Context(
        context_type=draw(pools.context_types if context_type is None else context_type),
        key=draw(pools.context_keys),
        parameters=parameters,
        private_parameters=private,
    )


@st.composite
def context_sets(draw: st.DrawFn, pools: Pools, min_size: int | None = None) -> ContextSet:
    """Up to three contexts (at least `min_size`, else the pools' minimum), at most one per context type."""
    least = pools.min_contexts if min_size is None else min_size
    types = draw(st.lists(pools.context_types, min_size=least, max_size=3, unique=True))
    return ContextSet(tuple(draw(contexts(pools, st.just(t))) for t in types))


@st.composite
def leaves(draw: st.DrawFn, pools: Pools) -> Leaf:
    """A leaf whose constant has the shape its operator expects."""
    op: Op = draw(st.sampled_from(list(Op)))
    value: LeafValue = draw(pools.leaf_values[op])
    attribute = draw(st.builds(Attribute, pools.context_types, st.none() | pools.names))
    return Leaf(attribute=attribute, op=op, value=value)


def _compound(children: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    many = st.lists(children, max_size=3).map(tuple)
    return st.builds(And, many) | st.builds(Or, many) | st.builds(Not, children)


@cache
def conditions(pools: Pools) -> st.SearchStrategy[Condition]:
    """Nested conditions of up to `pools.max_leaves` leaves."""
    return st.recursive(leaves(pools), _compound, max_leaves=pools.max_leaves)


def hash_specs(pools: Pools) -> st.SearchStrategy[HashSpec]:
    return st.dictionaries(
        pools.context_types, st.lists(pools.names, max_size=2, unique=True).map(tuple), max_size=2
    )


@st.composite
def weights(draw: st.DrawFn, count: int) -> tuple[int, ...]:
    """`count` weights in units of 0.1 % summing to 100 %."""
    cuts = sorted(draw(st.lists(st.integers(0, TOTAL_WEIGHT_MILLI), min_size=count - 1, max_size=count - 1)))
    edges = [0, *cuts, TOTAL_WEIGHT_MILLI]
    return tuple(edges[i + 1] - edges[i] for i in range(count))


@st.composite
def allocations(draw: st.DrawFn, pools: Pools, variant_keys: list[str]) -> Allocation:
    """Buckets over the given variants (distinct when the pools say so) whose weights sum to 100 %."""
    unique = pools.distinct_buckets
    chosen = draw(st.lists(st.sampled_from(variant_keys), min_size=1, max_size=4, unique=unique))
    shares = draw(weights(len(chosen)))
    return Allocation(buckets=tuple(map(Bucket, chosen, shares)), hash_spec=draw(hash_specs(pools)))


def serves(pools: Pools, variant_keys: list[str]) -> st.SearchStrategy[Serve]:
    """Serve one of the variants, or split between them."""
    return st.builds(Serve, variant_key=st.sampled_from(variant_keys)) | st.builds(
        Serve, allocation=allocations(pools, variant_keys)
    )


@st.composite
def flag_definitions(
    draw: st.DrawFn, pools: Pools, value_type: st.SearchStrategy[ValueType] = st.sampled_from(ValueType)
) -> FlagDefinition:
    """A flag in one environment: typed variants, rules with unique ids, a fallthrough and hashing."""
    vtype = draw(value_type)
    variant_keys = draw(st.lists(pools.variant_keys, min_size=1, max_size=4, unique=True))
    variants = tuple(
        Variant(key=k, value=draw(pools.variant_values[vtype]), name=draw(pools.texts),
                description=draw(pools.texts))
        for k in variant_keys
    )  # fmt: skip
    rules = tuple(
        Rule(id=rid, condition=draw(conditions(pools)), serve=draw(serves(pools, variant_keys)),
             description=draw(pools.texts))
        for rid in draw(pools.rule_ids)
    )  # fmt: skip
    config = FlagConfig(
        enabled=draw(st.booleans()),
        off_variant=draw(st.sampled_from(variant_keys)),
        fallthrough=draw(serves(pools, variant_keys)),
        rules=rules,
        hashing=draw(hash_specs(pools)),
    )
    return FlagDefinition(
        key=draw(pools.flag_keys), project_id=draw(uuids), environment_id=draw(uuids), value_type=vtype,
        variants=variants, config=config, version=draw(pools.versions), archived=draw(pools.archived),
    )  # fmt: skip


rule_segments = st.builds(
    RuleSegment, id=uuids, key=keys, context_type=WIDE.context_types, condition=conditions(WIDE),
    version=st.integers(0, 2**40),
)  # fmt: skip
list_segment_metas = st.builds(
    ListSegmentMeta, id=uuids, key=keys, context_type=WIDE.context_types, version=st.integers(0, 2**40)
)


@st.composite
def segment_lookups(draw: st.DrawFn) -> StaticSegments:
    """Rule segments seg-a/seg-b (which may refer to each other) and list segments list-a/list-b."""
    types, matching = MATCHING.context_types, conditions(MATCHING)
    rules = [
        RuleSegment(id=UUID(int=i + 1), key=key, context_type=draw(types), condition=draw(matching))
        for i, key in enumerate(("seg-a", "seg-b"))
    ]
    lists = [ListSegmentMeta(id=UUID(int=i + 10), key=key, context_type=draw(types)) for i, key in
             enumerate(("list-a", "list-b"))]  # fmt: skip
    members = {
        "list-a": draw(st.lists(st.tuples(types, words), max_size=6)),
    }  # list-b has no member list: membership unknown
    return StaticSegments(rules, lists, members)
