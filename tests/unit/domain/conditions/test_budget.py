"""The evaluation budget (issue 9, item 6): what the deciders accept is within it, and evaluation of
anything within it is bounded (counted in leaf evaluations and segment conditions, never in time)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from uuid import UUID, uuid4, uuid5

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.compiled import compile_flag
from domain.conditions import compiler, interpret
from domain.conditions.ast import Attribute, Condition, Leaf, Not, Op, Or
from domain.conditions.budget import (
    MAX_DEPTH,
    MAX_FLAG_LEAVES,
    MAX_FLAG_NODES,
    MAX_REGEX_LEAVES,
    MAX_RULES,
    MAX_SEGMENT_LEAVES,
    MAX_SEGMENT_REFERENCES,
    MAX_TOTAL_LIST_ITEMS,
)
from domain.conditions.segments import MAX_SEGMENT_EVALUATIONS, StaticSegments
from domain.context import ContextSet
from domain.errors import EvaluationBudgetExceeded, InvalidArgument
from domain.evaluation import evaluate
from domain.flags import flag as flags
from domain.flags.commands import CreateFlag, ReplaceFlagRules, SetFlagEnabled
from domain.flags.events import FlagDisabled
from domain.flags.flag_config import FlagEnvConfig, change_config
from domain.flags.model import FlagConfig, FlagDefinition, Rule, RuleSegment, Serve, ValueType, Variant
from domain.flags.validation import check_config, check_segment_budget
from tests.unit.domain.harness import NOW, current

USER = Attribute("user", "plan")
NS = UUID(int=7)
VARIANTS = frozenset({"on", "off"})


def _eq(i: int) -> Leaf:
    return Leaf(USER, Op.EQ, f"p{i}")


def _config(conditions: list[Condition]) -> FlagConfig:
    rules = tuple(
        Rule(id=f"r{i}", condition=c, serve=Serve(variant_key="on")) for i, c in enumerate(conditions)
    )
    return FlagConfig(enabled=True, off_variant="off", fallthrough=Serve(variant_key="off"), rules=rules)


@st.composite
def _shapes(draw: st.DrawFn) -> dict[str, Any]:
    rules = draw(st.integers(0, MAX_RULES + 3))
    if rules == 0:
        return {"rules": 0, "eq": 0, "regex": 0, "lists": [], "refs": 0, "nots": 0}
    return {
        "rules": rules,
        "eq": draw(st.integers(0, MAX_FLAG_LEAVES + 3)),
        "regex": draw(st.integers(0, MAX_REGEX_LEAVES + 2)),
        "lists": draw(st.lists(st.integers(0, 1000), max_size=12)),
        "refs": draw(st.integers(0, MAX_SEGMENT_REFERENCES + 2)),
        "nots": draw(st.integers(0, MAX_DEPTH)),
    }


def _conditions(shape: dict[str, Any]) -> list[Condition]:
    leaves: list[Condition] = [_eq(i) for i in range(shape["eq"])]
    leaves += [Leaf(USER, Op.MATCHES, f"^p{i}$") for i in range(shape["regex"])]
    leaves += [Leaf(USER, Op.IN, tuple(range(n))) for n in shape["lists"]]
    leaves += [Leaf(Attribute("user"), Op.IN_SEGMENT, "s") for _ in range(shape["refs"])]
    buckets: list[list[Condition]] = [[] for _ in range(shape["rules"])]
    for i, leaf in enumerate(leaves):
        buckets[i % len(buckets)].append(leaf)
    conditions: list[Condition] = [Or(tuple(b)) for b in buckets]
    for _ in range(shape["nots"]):
        conditions[0] = Not(conditions[0])
    return conditions


def _within_budget(shape: dict[str, Any]) -> bool:
    """The budget as docs/api-flags.md states it, computed from the shape, not by the code under test."""
    leaves = shape["eq"] + shape["regex"] + len(shape["lists"]) + shape["refs"]
    depth = 2 + shape["nots"] if shape["rules"] and leaves else 1 + shape["nots"]
    return bool(
        shape["rules"] <= MAX_RULES
        and leaves <= MAX_FLAG_LEAVES
        and shape["rules"] + shape["nots"] + leaves <= MAX_FLAG_NODES
        and shape["regex"] <= MAX_REGEX_LEAVES
        and sum(shape["lists"]) <= MAX_TOTAL_LIST_ITEMS
        and shape["refs"] <= MAX_SEGMENT_REFERENCES
        and (shape["rules"] == 0 or depth <= MAX_DEPTH)
    )


@settings(max_examples=150, deadline=None)
@given(_shapes())
def test_the_decider_accepts_exactly_the_flags_within_budget(shape: dict[str, Any]) -> None:
    config = _config(_conditions(shape))
    if _within_budget(shape):
        check_config(config, VARIANTS, frozenset({"s"}))
    else:
        with pytest.raises(InvalidArgument, match=r"at most|deeper than"):
            check_config(config, VARIANTS, frozenset({"s"}))


def test_refusals_name_the_limit() -> None:
    wide = Or(tuple(Leaf(USER, Op.MATCHES, f"^u{i}$") for i in range(1999)))
    with pytest.raises(EvaluationBudgetExceeded, match=f"at most {MAX_FLAG_LEAVES} condition leaves"):
        check_config(_config([wide]), VARIANTS, frozenset())
    with pytest.raises(EvaluationBudgetExceeded, match=f"at most {MAX_RULES} rules"):
        check_config(_config([_eq(i) for i in range(MAX_RULES + 1)]), VARIANTS, frozenset())
    with pytest.raises(EvaluationBudgetExceeded, match=f"at most {MAX_SEGMENT_LEAVES} condition leaves"):
        check_segment_budget(Or(tuple(_eq(i) for i in range(MAX_SEGMENT_LEAVES + 1))))


# Segments that name segments: `width` segments per level, each naming `fan_out` of the next level.
def _segment_graph(levels: int, width: int, fan_out: int) -> list[RuleSegment]:
    segments = []
    for level in range(levels):
        for i in range(width):
            refs: list[Condition] = [
                Leaf(Attribute("user"), Op.IN_SEGMENT, f"s{level + 1}-{(i + j) % width}")
                for j in range(fan_out if level + 1 < levels else 0)
            ]
            padding = [_eq(k) for k in range(MAX_SEGMENT_LEAVES - len(refs))]
            condition = Or((*refs, *padding))
            check_segment_budget(condition)  # each segment is as large as a segment may be
            key = f"s{level}-{i}"
            segments.append(RuleSegment(id=uuid5(NS, key), key=key, context_type="user", condition=condition))
    return segments


def _maximal_flag(width: int) -> FlagDefinition:
    refs = [Leaf(Attribute("user"), Op.IN_SEGMENT, f"s0-{i % width}") for i in range(MAX_SEGMENT_REFERENCES)]
    regexes = [Leaf(USER, Op.MATCHES, f"^(?:x|.){{{i + 1}}}z$") for i in range(MAX_REGEX_LEAVES)]
    rest = MAX_FLAG_LEAVES - len(refs) - len(regexes)
    leaves: list[Condition] = [*refs, *regexes, *(_eq(i) for i in range(rest))]
    per_rule = -(-len(leaves) // MAX_RULES)
    conditions: list[Condition] = [
        Or(tuple(leaves[i : i + per_rule])) for i in range(0, len(leaves), per_rule)
    ]
    config = _config(conditions)
    check_config(config, VARIANTS, frozenset(f"s0-{i}" for i in range(width)))
    return FlagDefinition(
        key="f", project_id=NS, environment_id=NS, value_type=ValueType.BOOL,
        variants=(Variant(key="on", value=True), Variant(key="off", value=False)), config=config,
    )  # fmt: skip


@contextmanager
def _counting(module: Any, name: str) -> Iterator[list[int]]:
    count = [0]
    original: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any) -> Any:
        count[0] += 1
        return original(*args)

    with mock.patch.object(module, name, counted):
        yield count


@settings(max_examples=25, deadline=None)
@given(levels=st.integers(1, 10), width=st.integers(1, 32), fan_out=st.integers(1, MAX_SEGMENT_REFERENCES))
def test_evaluating_a_maximal_flag_is_bounded(levels: int, width: int, fan_out: int) -> None:
    # Without the per-evaluation segment answers this is up to 32^8 segment conditions; no leaf matches,
    # so every leaf the rules and segments reach is evaluated.
    segments = StaticSegments(rules=_segment_graph(levels, width, min(fan_out, width)))
    flag = _maximal_flag(width)
    contexts = ContextSet.single("user", "u1", plan="free")
    with _counting(interpret, "_leaf") as leaves, _counting(interpret, "_rule_segment_holds") as runs:
        expected = evaluate(flag, contexts, segments=segments, sequence=1)
    assert runs[0] <= MAX_SEGMENT_EVALUATIONS
    assert leaves[0] <= MAX_FLAG_LEAVES + MAX_SEGMENT_EVALUATIONS * MAX_SEGMENT_LEAVES
    with _counting(compiler, "_rule_segment_holds") as compiled_runs:
        assert compile_flag(flag).evaluate(contexts, segments, 1) == expected
    assert compiled_runs[0] == runs[0]
    assert expected.variant_key == "off"


def test_a_legacy_flag_over_budget_can_still_be_switched_off_but_not_given_new_rules() -> None:
    flag = current(
        flags.create_flag(
            None,
            CreateFlag(command_id=uuid4(), project_id=NS, key="f", value_type=ValueType.BOOL,
                       variants=(Variant(key="on", value=True), Variant(key="off", value=False))),
            NOW,
        ),
        flags.replay,
    )  # fmt: skip
    legacy = _config([_eq(i) for i in range(MAX_RULES + 1)])  # recorded before the budget existed
    ids: dict[str, Any] = {"project_id": NS, "environment_id": NS, "key": "f"}
    state = FlagEnvConfig(id=NS, version=1, project_id=NS, environment_id=NS, key="f", config=legacy)
    switch_off = SetFlagEnabled(command_id=uuid4(), enabled=False, **ids)
    assert [type(e) for e in change_config(state, switch_off, NOW, flag=flag)] == [FlagDisabled]
    same = ReplaceFlagRules(command_id=uuid4(), rules=legacy.rules, **ids)
    assert change_config(state, same, NOW, flag=flag) == []
    other = ReplaceFlagRules(command_id=uuid4(), rules=legacy.rules[1:] + legacy.rules[:1], **ids)
    with pytest.raises(EvaluationBudgetExceeded, match=f"at most {MAX_RULES} rules"):
        change_config(state, other, NOW, flag=flag)
