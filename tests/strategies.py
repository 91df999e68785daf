"""Hypothesis strategies for the domain evaluation model: contexts, conditions, flags and segments.

Everything drawn is valid by the domain's rules (keys match `domain.ids.KEY_PATTERN`, variant values fit
the flag's value type, a serve has exactly one target, allocation weights sum to 100 %), so properties
over these values may assume validity. Floats are finite: JSON cannot carry NaN or infinity.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from domain.conditions.ast import And, Attribute, Condition, Leaf, Not, Op, Or
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

keys = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,15}", fullmatch=True)
context_types = st.sampled_from(["user", "org", "device"]) | keys
uuids = st.uuids()
# Symmetric: the condition codec refuses |value| > 2**63 - 1.
int64s = st.integers(-(2**63 - 1), 2**63 - 1)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=16)
scalars: st.SearchStrategy[bool | int | float | str] = st.booleans() | int64s | finite_floats | texts
semvers = st.tuples(*[st.integers(0, 99)] * 3).map(lambda v: ".".join(map(str, v)))
dates = st.dates().map(lambda d: d.isoformat())
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | int64s | finite_floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)

# --- contexts ---------------------------------------------------------------------------------

param_values: st.SearchStrategy[ParamValue] = scalars


@st.composite
def contexts(draw: st.DrawFn, context_type: st.SearchStrategy[str] = context_types) -> Context:
    """One context with typed parameters, some of them private."""
    parameters = draw(st.dictionaries(keys, param_values, max_size=4))
    private = (
        draw(st.frozensets(st.sampled_from(sorted(parameters)), max_size=2)) if parameters else frozenset()
    )
    return Context(
        context_type=draw(context_type), key=draw(keys), parameters=parameters, private_parameters=private
    )


@st.composite
def context_sets(draw: st.DrawFn) -> ContextSet:
    """One to three contexts, at most one per context type."""
    types = draw(st.lists(context_types, min_size=1, max_size=3, unique=True))
    return ContextSet(tuple(draw(contexts(st.just(t))) for t in types))


# --- conditions -------------------------------------------------------------------------------

_LEAF_VALUES: dict[Op, st.SearchStrategy[Any]] = {
    Op.EQ: scalars,
    Op.NEQ: scalars,
    Op.IN: st.lists(scalars, max_size=4).map(tuple),
    Op.NOT_IN: st.lists(scalars, max_size=4).map(tuple),
    Op.CONTAINS: texts,
    Op.NOT_CONTAINS: texts,
    Op.STARTS_WITH: texts,
    Op.ENDS_WITH: texts,
    Op.MATCHES: st.sampled_from(["^a", "b+$", "[0-9]{2}"]),
    Op.LT: int64s | finite_floats,
    Op.LTE: int64s | finite_floats,
    Op.GT: int64s | finite_floats,
    Op.GTE: int64s | finite_floats,
    Op.SEMVER_EQ: semvers,
    Op.SEMVER_LT: semvers,
    Op.SEMVER_LTE: semvers,
    Op.SEMVER_GT: semvers,
    Op.SEMVER_GTE: semvers,
    Op.BEFORE: dates,
    Op.AFTER: dates,
    Op.EXISTS: st.none(),
    Op.NOT_EXISTS: st.none(),
    Op.IN_SEGMENT: keys,
    Op.NOT_IN_SEGMENT: keys,
}
attributes = st.builds(Attribute, context_types, st.none() | keys)


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    """A leaf whose value has the shape its operator expects."""
    op = draw(st.sampled_from(list(Op)))
    return Leaf(attribute=draw(attributes), op=op, value=draw(_LEAF_VALUES[op]))


def _compound(children: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    many = st.lists(children, max_size=3).map(tuple)
    return st.builds(And, many) | st.builds(Or, many) | st.builds(Not, children)


conditions: st.SearchStrategy[Condition] = st.recursive(leaves(), _compound, max_leaves=6)

# --- flags ------------------------------------------------------------------------------------

_VALUES: dict[ValueType, st.SearchStrategy[FlagValue]] = {
    ValueType.BOOL: st.booleans(),
    ValueType.INT: int64s,
    ValueType.DOUBLE: finite_floats,
    ValueType.STRING: texts,
    ValueType.JSON: json_values,
}
hash_specs: st.SearchStrategy[HashSpec] = st.dictionaries(
    context_types, st.lists(keys, max_size=2, unique=True).map(tuple), max_size=2
)


@st.composite
def allocations(draw: st.DrawFn, variant_keys: list[str]) -> Allocation:
    """Buckets over the given variants whose weights sum to 100 %."""
    chosen = draw(st.lists(st.sampled_from(variant_keys), min_size=1, max_size=4))
    cuts = sorted(
        draw(st.lists(st.integers(0, TOTAL_WEIGHT_MILLI), min_size=len(chosen) - 1, max_size=len(chosen) - 1))
    )
    edges = [0, *cuts, TOTAL_WEIGHT_MILLI]
    buckets = tuple(Bucket(key, edges[i + 1] - edges[i]) for i, key in enumerate(chosen))
    return Allocation(buckets=buckets, hash_spec=draw(hash_specs))


def serves(variant_keys: list[str]) -> st.SearchStrategy[Serve]:
    """Serve one of the variants, or split between them."""
    return st.builds(Serve, variant_key=st.sampled_from(variant_keys)) | st.builds(
        Serve, allocation=allocations(variant_keys)
    )


@st.composite
def rules(draw: st.DrawFn, variant_keys: list[str], rule_id: str) -> Rule:
    """A targeting rule with the given id."""
    return Rule(
        id=rule_id, condition=draw(conditions), serve=draw(serves(variant_keys)), description=draw(texts)
    )


@st.composite
def flag_definitions(
    draw: st.DrawFn, value_type: st.SearchStrategy[ValueType] = st.sampled_from(ValueType)
) -> FlagDefinition:
    """A flag in one environment: typed variants, rules with unique ids, a fallthrough and hashing."""
    vtype = draw(value_type)
    variant_keys = draw(st.lists(keys, min_size=1, max_size=4, unique=True))
    variants = tuple(
        Variant(key=k, value=draw(_VALUES[vtype]), name=draw(texts), description=draw(texts))
        for k in variant_keys
    )
    rule_ids = draw(st.lists(keys, max_size=3, unique=True))
    config = FlagConfig(
        enabled=draw(st.booleans()),
        off_variant=draw(st.sampled_from(variant_keys)),
        fallthrough=draw(serves(variant_keys)),
        rules=tuple(draw(rules(variant_keys, rid)) for rid in rule_ids),
        hashing=draw(hash_specs),
    )
    return FlagDefinition(
        key=draw(keys),
        project_id=draw(uuids),
        environment_id=draw(uuids),
        value_type=vtype,
        variants=variants,
        config=config,
        version=draw(st.integers(0, 2**63 - 1)),
        archived=draw(st.booleans()),
    )


# --- segments ---------------------------------------------------------------------------------

rule_segments = st.builds(
    RuleSegment,
    id=uuids,
    key=keys,
    context_type=context_types,
    condition=conditions,
    version=st.integers(0, 2**40),
)
list_segment_metas = st.builds(
    ListSegmentMeta, id=uuids, key=keys, context_type=context_types, version=st.integers(0, 2**40)
)
