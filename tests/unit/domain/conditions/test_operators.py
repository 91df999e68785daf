"""Leaf semantics, segments and the compiled form of conditions."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.conditions.ast import And, Attribute, Condition, Leaf, LeafValue, Not, Op, Or
from domain.conditions.compiler import compile_condition
from domain.conditions.interpret import matches
from domain.conditions.segments import NO_SEGMENTS, StaticSegments
from domain.context import Context, ContextSet, ParamValue
from domain.flags.model import ListSegmentMeta, RuleSegment
from tests.strategies import MATCHING, PARAM_NAMES, conditions, context_sets, leaves, segment_lookups

X = Attribute("user", "x")


def _holds(op: Op, value: LeafValue, actual: ParamValue | None) -> bool:
    params: dict[str, ParamValue] = {} if actual is None else {"x": actual}
    contexts = ContextSet((Context(context_type="user", key="k", parameters=params),))
    leaf = Leaf(X, op, value)
    interpreted = matches(leaf, contexts, NO_SEGMENTS)
    assert compile_condition(leaf)(contexts, NO_SEGMENTS, 0) == interpreted
    return interpreted


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        (Op.EQ, "US", "US", True), (Op.EQ, "US", "us", False), (Op.EQ, 1, 1.0, True),
        (Op.EQ, 1, True, False), (Op.EQ, True, 1, False), (Op.EQ, "1", 1, False),
        (Op.NEQ, "US", "DE", True), (Op.NEQ, "US", "US", False), (Op.NEQ, "US", 3, False),
        (Op.IN, ("pro", "enterprise"), "pro", True), (Op.IN, ("pro",), "free", False),
        (Op.IN, (1, 2), 2.0, True), (Op.IN, (1, 2), True, False), (Op.IN, (), "a", False),
        (Op.NOT_IN, ("pro",), "free", True), (Op.NOT_IN, ("pro",), "pro", False),
        (Op.NOT_IN, ("pro",), 3, False), (Op.NOT_IN, (), "a", True),
        (Op.CONTAINS, "mail", "email", True), (Op.CONTAINS, ("x", "ai"), "email", True),
        (Op.CONTAINS, "mail", 5, False), (Op.NOT_CONTAINS, "mail", "phone", True),
        (Op.NOT_CONTAINS, "mail", "email", False), (Op.STARTS_WITH, ("a", "e"), "email", True),
        (Op.ENDS_WITH, ".com", "a@b.com", True), (Op.ENDS_WITH, ".com", "a@b.io", False),
        (Op.MATCHES, "^[^@]+@[^@]+$", "a@b", True), (Op.MATCHES, "^[^@]+@[^@]+$", "a@@b", False),
        (Op.MATCHES, "(a+)+$", "aaa", True), (Op.MATCHES, "(?=a)", "a", False),
        (Op.LT, 10, 9.5, True), (Op.LT, 10, 10, False), (Op.LTE, 10, 10, True), (Op.GT, 2.5, 3, True),
        (Op.GTE, 3, 3.0, True), (Op.GT, 1, True, False), (Op.GT, 1, "2", False),
        (Op.SEMVER_GT, "2.0.0-alpha.1", "2.0.0-beta.1", True), (Op.SEMVER_LT, "2.0.0", "2.0.0-rc.1", True),
        (Op.SEMVER_EQ, "1.2.3", "1.2.3+build", True), (Op.SEMVER_LTE, "1.2.3", "1.2.4", False),
        (Op.SEMVER_GTE, "1.2.3", "v1.2.3", False), (Op.SEMVER_EQ, "1.2.3", 123, False),
        (Op.BEFORE, "2024-01-01T00:00:00Z", "2023-12-31T23:00:00-00:30", True),
        (Op.BEFORE, "2024-01-01", 1704067200000 - 1, True), (Op.AFTER, 0, "1970-01-01T00:00:00.001Z", True),
        (Op.AFTER, "2024-01-01", "2024-01-01T00:00:00Z", False), (Op.AFTER, "2024-01-01", "soon", False),
        (Op.EXISTS, None, "", True), (Op.EXISTS, None, None, False),
        (Op.NOT_EXISTS, None, None, True), (Op.NOT_EXISTS, None, False, False),
        (Op.GT, "not a number", 5, False), (Op.SEMVER_EQ, "bad", "bad", False),
    ],
)  # fmt: skip
def test_leaf_operators(op: Op, value: LeafValue, actual: ParamValue | None, expected: bool) -> None:
    assert _holds(op, value, actual) is expected


@settings(deadline=None)
@given(leaves(MATCHING))
def test_a_missing_attribute_matches_only_not_exists(leaf: Leaf) -> None:
    empty = ContextSet()
    assert matches(leaf, empty, NO_SEGMENTS) is (leaf.op is Op.NOT_EXISTS)


def test_the_context_key_is_the_attribute_without_a_name() -> None:
    contexts = ContextSet.single("org", "acme")
    assert matches(Leaf(Attribute("org"), Op.EQ, "acme"), contexts, NO_SEGMENTS)
    assert not matches(Leaf(Attribute("user"), Op.EQ, "acme"), contexts, NO_SEGMENTS)


def test_conditions_span_several_contexts() -> None:
    contexts = ContextSet(
        (
            Context(context_type="user", key="u1", parameters={"plan": "pro"}),
            Context(context_type="org", key="acme"),
        )
    )
    both = And((Leaf(Attribute("user", "plan"), Op.EQ, "pro"), Leaf(Attribute("org"), Op.IN, ("acme",))))
    assert matches(both, contexts, NO_SEGMENTS)
    assert matches(Or(()), contexts, NO_SEGMENTS) is False
    assert matches(And(()), contexts, NO_SEGMENTS)


def _segment(key: str, condition: Condition, context_type: str = "user") -> RuleSegment:
    return RuleSegment(id=UUID(int=len(key)), key=key, context_type=context_type, condition=condition)


def test_rule_and_list_segments() -> None:
    pro = _segment("pros", Leaf(Attribute("user", "plan"), Op.EQ, "pro"))
    beta = ListSegmentMeta(id=UUID(int=9), key="beta", context_type="user")
    unknown = ListSegmentMeta(id=UUID(int=8), key="big", context_type="user")
    segments = StaticSegments([pro], [beta, unknown], {"beta": [("user", "u1")]})
    u1 = ContextSet((Context(context_type="user", key="u1", parameters={"plan": "pro"}),))
    u2 = ContextSet((Context(context_type="user", key="u2", parameters={"plan": "free"}),))
    user = Attribute("user")
    for key, in_u1, in_u2 in [("pros", True, False), ("beta", True, False)]:
        assert matches(Leaf(user, Op.IN_SEGMENT, key), u1, segments) is in_u1
        assert matches(Leaf(user, Op.IN_SEGMENT, key), u2, segments) is in_u2
        assert matches(Leaf(user, Op.NOT_IN_SEGMENT, key), u2, segments) is not in_u2
    for key in ("big", "nope"):  # unknown membership, unknown segment: false either way
        assert not matches(Leaf(user, Op.IN_SEGMENT, key), u1, segments)
        assert not matches(Leaf(user, Op.NOT_IN_SEGMENT, key), u1, segments)
    assert not matches(Leaf(Attribute("org"), Op.IN_SEGMENT, "pros"), u1, segments)  # no org context


def test_a_segment_referring_to_itself_terminates() -> None:
    loop = _segment("loop", Leaf(Attribute("user"), Op.IN_SEGMENT, "loop"))
    flip = _segment("flip", Leaf(Attribute("user"), Op.NOT_IN_SEGMENT, "flip"))
    segments = StaticSegments([loop, flip])
    contexts = ContextSet.single("user", "u")
    for key in ("loop", "flip"):
        leaf = Leaf(Attribute("user"), Op.IN_SEGMENT, key)
        assert matches(leaf, contexts, segments) == compile_condition(leaf)(contexts, segments, 0)
    assert not matches(Leaf(Attribute("user"), Op.IN_SEGMENT, "loop"), contexts, segments)


@settings(max_examples=300, deadline=None)
@given(conditions(MATCHING), context_sets(MATCHING), segment_lookups())
def test_compiled_conditions_agree_with_the_interpreter(
    condition: Condition, contexts: ContextSet, segments: StaticSegments
) -> None:
    expected = matches(condition, contexts, segments)
    assert compile_condition(condition)(contexts, segments, 0) is expected
    assert matches(Not(condition), contexts, segments) is not expected


_JUNK = (
    st.none()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)
)


@settings(deadline=None)
@given(
    conditions(MATCHING),
    st.dictionaries(st.sampled_from(PARAM_NAMES), MATCHING.param_values | _JUNK, max_size=6),
)
def test_conditions_never_raise_even_on_untyped_parameters(
    condition: Condition, params: dict[str, object]
) -> None:
    # Contexts built in code may carry values the wire would refuse; evaluation must still answer.
    contexts = ContextSet((Context(context_type="user", key="k", parameters=params),))  # type: ignore[arg-type]
    assert isinstance(matches(condition, contexts, NO_SEGMENTS), bool)
    assert isinstance(compile_condition(condition)(contexts, NO_SEGMENTS, 0), bool)


_ANY_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
_ANY_VALUE = _ANY_SCALAR | st.lists(_ANY_SCALAR | st.lists(st.integers(), max_size=1), max_size=3).map(tuple)


@settings(deadline=None)
@given(st.sampled_from(Op), _ANY_VALUE, _ANY_VALUE | _JUNK)
def test_leaves_answer_for_any_constant_and_any_value(op: Op, value: LeafValue, actual: object) -> None:
    # Conditions built in code skip the codec; huge ints, NaN or nested lists must still give an answer.
    params = {} if actual is None else {"x": actual}
    contexts = ContextSet((Context(context_type="user", key="k", parameters=params),))  # type: ignore[arg-type]
    leaf = Leaf(X, op, value)
    assert compile_condition(leaf)(contexts, NO_SEGMENTS, 0) is matches(leaf, contexts, NO_SEGMENTS)
