"""Leaf semantics: one total matcher per operator and constant, shared by the interpreter and compiler.

A matcher takes the attribute's value (None when missing) and answers; a missing attribute, a type
mismatch or a malformed constant is a non-match, never an error. Numbers are int or float, never bool.
The negative operators (neq, not_in, not_contains) follow the same rule: they need a present attribute
of a comparable type, so `neq "US"` is false for a missing country; `Not(eq "US")` is true for it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from domain.conditions.ast import LeafValue, Op
from domain.conditions.dates import to_epoch_millis
from domain.conditions.regex import bounded_regex, regex_matches
from domain.conditions.semver import parse_semver
from domain.context import ContextSet

Matcher = Callable[[object], bool]
_NUMBER = (int, float)
_ORDER: dict[Op, Callable[[Any, Any], Any]] = {
    Op.LT: operator.lt, Op.LTE: operator.le, Op.GT: operator.gt, Op.GTE: operator.ge,
    Op.SEMVER_LT: operator.lt, Op.SEMVER_LTE: operator.le, Op.SEMVER_GT: operator.gt,
    Op.SEMVER_GTE: operator.ge, Op.SEMVER_EQ: operator.eq, Op.BEFORE: operator.lt, Op.AFTER: operator.gt,
}  # fmt: skip


def never(_: object) -> bool:
    """The matcher of malformed constants."""
    return False


def attribute_value(contexts: ContextSet, context_type: str, name: str | None) -> object:
    """The attribute's value: the context key when `name` is None; None when missing."""
    ctx = contexts.get(context_type)
    if ctx is None:
        return None
    return ctx.key if name is None else ctx.parameters.get(name)


def is_number(value: object) -> bool:
    """int or float, excluding bool (a bool is not a number here)."""
    return type(value) in _NUMBER


def value_matcher(op: Op, value: LeafValue) -> Matcher:
    """The matcher for a value operator (not exists / segment operators, which need more than a value)."""
    builder = _BUILDERS.get(op)
    matcher = builder(op, value) if builder is not None else None
    return matcher if matcher is not None else never


def _kind(value: object) -> type | None:
    kind = type(value)
    if kind is int:
        return float  # ints and floats compare with each other
    return kind if kind in (float, str, bool) else None


def _equality(op: Op, value: LeafValue) -> Matcher | None:
    kind = _kind(value)
    if kind is None or isinstance(value, tuple):
        return None
    if op is Op.EQ:
        if kind is str:
            return lambda v: type(v) is str and v == value
        return lambda v: v == value and _kind(v) is kind
    return lambda v: v != value and _kind(v) is kind


def _membership(op: Op, value: LeafValue) -> Matcher | None:
    if not isinstance(value, tuple):
        return None
    kinds = {_kind(item) for item in value}
    if None in kinds:
        return None
    # NaN never equals anything; keeping it out of the set stops identity from making it a member.
    members = frozenset(item for item in value if not (isinstance(item, float) and math.isnan(item)))
    keyed = frozenset((_kind(item), item) for item in members)
    if op is Op.IN:
        if kinds == {str}:
            return lambda v: type(v) is str and v in members
        return lambda v: (k := _kind(v)) is not None and (k, v) in keyed
    if not value:
        return lambda v: _kind(v) is not None
    return lambda v: (k := _kind(v)) in kinds and (k, v) not in keyed


def _strings(op: Op, value: LeafValue) -> Matcher | None:
    needles = (value,) if isinstance(value, str) else value
    if not isinstance(needles, tuple) or not needles or not all(isinstance(n, str) for n in needles):
        return None
    texts: tuple[str, ...] = needles  # type: ignore[assignment]  # checked just above
    if op is Op.STARTS_WITH:
        return lambda v: type(v) is str and v.startswith(texts)
    if op is Op.ENDS_WITH:
        return lambda v: type(v) is str and v.endswith(texts)
    if op is Op.CONTAINS:
        return lambda v: type(v) is str and any(t in v for t in texts)
    return lambda v: type(v) is str and not any(t in v for t in texts)


def _regex(op: Op, value: LeafValue) -> Matcher | None:
    compiled = bounded_regex(value) if isinstance(value, str) else None
    if compiled is None:
        return None
    return lambda v: type(v) is str and regex_matches(compiled, v)


def _numeric(op: Op, value: LeafValue) -> Matcher | None:
    if not is_number(value) or (isinstance(value, float) and math.isnan(value)):
        return None
    compare = _ORDER[op]
    return lambda v: type(v) in _NUMBER and compare(v, value)


def _semver(op: Op, value: LeafValue) -> Matcher | None:
    target = parse_semver(value) if isinstance(value, str) else None
    if target is None:
        return None
    key, compare = target.key(), _ORDER[op]

    def matcher(v: object) -> bool:
        parsed = parse_semver(v) if type(v) is str else None
        return parsed is not None and compare(parsed.key(), key)

    return matcher


def _date(op: Op, value: LeafValue) -> Matcher | None:
    target = to_epoch_millis(value)
    if target is None:
        return None
    compare = _ORDER[op]

    def matcher(v: object) -> bool:
        millis = to_epoch_millis(v)
        return millis is not None and compare(millis, target)

    return matcher


_BUILDERS: dict[Op, Callable[[Op, LeafValue], Matcher | None]] = {
    Op.EQ: _equality, Op.NEQ: _equality, Op.IN: _membership, Op.NOT_IN: _membership,
    Op.CONTAINS: _strings, Op.NOT_CONTAINS: _strings, Op.STARTS_WITH: _strings, Op.ENDS_WITH: _strings,
    Op.MATCHES: _regex, Op.LT: _numeric, Op.LTE: _numeric, Op.GT: _numeric, Op.GTE: _numeric,
    Op.SEMVER_EQ: _semver, Op.SEMVER_LT: _semver, Op.SEMVER_LTE: _semver, Op.SEMVER_GT: _semver,
    Op.SEMVER_GTE: _semver, Op.BEFORE: _date, Op.AFTER: _date,
}  # fmt: skip
