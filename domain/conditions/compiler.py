"""Conditions compiled to closures once per definition, so evaluation only calls functions."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from domain.conditions.ast import And, Condition, Leaf, LeafValue, Not, Op, Or
from domain.conditions.interpret import MAX_CONDITION_DEPTH, SEGMENT_OPS, exceeds_depth, segment_leaf
from domain.conditions.operators import never, value_matcher
from domain.conditions.segments import SegmentLookup
from domain.context import ContextSet
from domain.flags.model import RuleSegment

Predicate = Callable[[ContextSet, SegmentLookup, int], bool]
"""(contexts, segments, segment depth) -> holds; agrees with `interpret.matches` on every input."""

_SEGMENT_CACHE_SIZE = 4096
_segment_cache: dict[tuple[UUID, int, str], tuple[RuleSegment, Predicate]] = {}


def compile_condition(condition: Condition) -> Predicate:
    """A predicate equivalent to interpreting `condition` (too-deep trees are always false)."""
    if exceeds_depth(condition, MAX_CONDITION_DEPTH):
        return _false
    return _compile(condition)


def _true(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
    return True


def _false(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
    return False


def _compile(condition: Condition) -> Predicate:
    match condition:
        case Leaf():
            return _compile_leaf(condition)
        case And(children=children):
            return _all(tuple(_compile(child) for child in children))
        case Or(children=children):
            return _any(tuple(_compile(child) for child in children))
        case Not(child=child):
            inner = _compile(child)
            return lambda contexts, segments, depth: not inner(contexts, segments, depth)


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _true
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda c, s, d: first(c, s, d) and second(c, s, d)

    def every(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
        # A plain loop: all() over a generator would allocate on every evaluation.
        for part in parts:  # noqa: SIM110
            if not part(contexts, segments, depth):
                return False
        return True

    return every


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _false
    if len(parts) == 1:
        return parts[0]

    def some(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
        for part in parts:  # noqa: SIM110
            if part(contexts, segments, depth):
                return True
        return False

    return some


def _compile_leaf(leaf: Leaf) -> Predicate:
    attribute, op, value = leaf.attribute, leaf.op, leaf.value
    if op in SEGMENT_OPS:
        return lambda c, s, d: segment_leaf(op, attribute, value, c, s, d, _rule_segment_holds)
    context_type, name = attribute.context_type, attribute.name
    if op is Op.EXISTS or op is Op.NOT_EXISTS:
        wanted = op is Op.EXISTS

        def exists(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
            ctx = contexts.get(context_type)
            found = ctx is not None and (name is None or ctx.parameters.get(name) is not None)
            return found is wanted

        return exists
    matcher = value_matcher(op, value)
    if matcher is never:
        return _false
    fast = _string_leaf(context_type, name, op, value)
    if fast is not None:
        return fast

    def test(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
        ctx = contexts.get(context_type)
        if ctx is None:
            return False
        found = ctx.key if name is None else ctx.parameters.get(name)
        return found is not None and matcher(found)

    return test


def _string_leaf(context_type: str, name: str | None, op: Op, value: LeafValue) -> Predicate | None:
    """Fused closures for the hottest shapes (equality with, or membership in, strings)."""
    if op is Op.EQ and isinstance(value, str):

        def equals(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
            for ctx in contexts.contexts:
                if ctx.context_type == context_type:
                    # Only a str equals a str, so no separate type check is needed.
                    return (ctx.key if name is None else ctx.parameters.get(name)) == value
            return False

        return equals
    if op is Op.IN and isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        members = frozenset(value)

        def member(contexts: ContextSet, segments: SegmentLookup, depth: int) -> bool:
            for ctx in contexts.contexts:
                if ctx.context_type == context_type:
                    found = ctx.key if name is None else ctx.parameters.get(name)
                    return type(found) is str and found in members
            return False

        return member
    return None


def _rule_segment_holds(segment: RuleSegment, ctx: ContextSet, segments: SegmentLookup, depth: int) -> bool:
    return compiled_segment(segment)(ctx, segments, depth)


def compiled_segment(segment: RuleSegment) -> Predicate:
    """The segment's compiled condition, cached by (id, version, key) and checked for equality."""
    cache_key = (segment.id, segment.version, segment.key)
    hit = _segment_cache.get(cache_key)
    if hit is not None and (hit[0] is segment or hit[0] == segment):
        return hit[1]
    predicate = compile_condition(segment.condition)
    if len(_segment_cache) >= _SEGMENT_CACHE_SIZE:
        _segment_cache.clear()
    _segment_cache[cache_key] = (segment, predicate)
    return predicate
