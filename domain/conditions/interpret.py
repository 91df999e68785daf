"""The reference interpreter of conditions, and the segment semantics shared with the compiler.

Segments: `in_segment` names a segment by key (the leaf's value); the leaf's attribute picks the
context (its parameter name is ignored). A rule segment matches when its condition holds for the whole
context set; a list segment asks `SegmentLookup.is_list_member` for that context's key. The segment's
context type must equal the attribute's. An unknown segment, an unknown membership, a context-type
mismatch, a chain deeper than MAX_SEGMENT_DEPTH (e.g. a segment that refers to itself) or a segment
past the MAX_SEGMENT_EVALUATIONS an evaluation may run (`SegmentAnswers`) makes both `in_segment` and
`not_in_segment` false.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.conditions.ast import And, Attribute, Condition, Leaf, LeafValue, Not, Op, Or
from domain.conditions.operators import attribute_value, value_matcher
from domain.conditions.segments import (
    MAX_SEGMENT_DEPTH,
    MAX_SEGMENT_EVALUATIONS,
    SegmentAnswers,
    SegmentLookup,
    answers_for,
)
from domain.context import ContextSet
from domain.flags.model import RuleSegment

MAX_CONDITION_DEPTH = 32  # deeper trees are refused by the codec and are false when built in code
SEGMENT_OPS = frozenset({Op.IN_SEGMENT, Op.NOT_IN_SEGMENT})
RuleSegmentTest = Callable[[RuleSegment, ContextSet, SegmentLookup, int], bool]


def matches(condition: Condition, contexts: ContextSet, segments: SegmentLookup, depth: int = 0) -> bool:
    """Whether `condition` holds; total: never raises for any context set."""
    if exceeds_depth(condition, MAX_CONDITION_DEPTH):
        return False
    return _holds(condition, contexts, segments, depth)


def exceeds_depth(condition: Condition, limit: int) -> bool:
    """Whether the tree nests deeper than `limit` levels (iterative, so any depth is safe)."""
    stack: list[tuple[Condition, int]] = [(condition, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        if isinstance(node, And | Or):
            stack.extend((child, level + 1) for child in node.children)
        elif isinstance(node, Not):
            stack.append((node.child, level + 1))
    return False


def _holds(condition: Condition, contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
    match condition:
        case Leaf(attribute=attribute, op=op, value=value):
            return _leaf(attribute, op, value, contexts, segments, depth)
        case And(children=children):
            return all(_holds(child, contexts, segments, depth) for child in children)
        case Or(children=children):
            return any(_holds(child, contexts, segments, depth) for child in children)
        case Not(child=child):
            return not _holds(child, contexts, segments, depth)


def _leaf(
    attribute: Attribute, op: Op, value: LeafValue, contexts: ContextSet, segments: SegmentLookup, depth: int
) -> bool:
    if op in SEGMENT_OPS:
        return segment_leaf(op, attribute, value, contexts, segments, depth, _rule_segment_holds)
    found = attribute_value(contexts, attribute.context_type, attribute.name)
    if op is Op.EXISTS:
        return found is not None
    if op is Op.NOT_EXISTS:
        return found is None
    return found is not None and value_matcher(op, value)(found)


def _rule_segment_holds(segment: RuleSegment, ctx: ContextSet, segments: SegmentLookup, depth: int) -> bool:
    return matches(segment.condition, ctx, segments, depth)


def segment_leaf(
    op: Op,
    attribute: Attribute,
    value: LeafValue,
    contexts: ContextSet,
    segments: SegmentLookup,
    depth: int,
    rule_test: RuleSegmentTest,
) -> bool:
    """An `in_segment` / `not_in_segment` leaf; `rule_test` evaluates a rule segment's condition."""
    ctx = contexts.get(attribute.context_type)
    if ctx is None or not isinstance(value, str) or depth >= MAX_SEGMENT_DEPTH:
        return False
    member: bool | None = None
    rule = segments.rule_segment(value)
    if rule is not None:
        if rule.context_type == ctx.context_type:
            member = _rule_member(rule, contexts, answers_for(segments), depth, rule_test)
    else:
        listed = segments.list_segment(value)
        if listed is not None and listed.context_type == ctx.context_type:
            member = segments.is_list_member(value, listed.context_type, ctx.key)
    if member is None:
        return False
    return member if op is Op.IN_SEGMENT else not member


def _rule_member(
    rule: RuleSegment, contexts: ContextSet, answers: SegmentAnswers, depth: int, rule_test: RuleSegmentTest
) -> bool | None:
    """The rule segment's answer at this depth: remembered, computed, or None past the evaluation cap."""
    question = (rule.key, depth)
    known = answers.answers.get(question)
    if known is not None:
        return known
    if len(answers.answers) >= MAX_SEGMENT_EVALUATIONS:
        return None
    answers.answers[question] = False  # taken before running, so the cap counts conditions started
    member = answers.answers[question] = rule_test(rule, contexts, answers, depth + 1)
    return member
