"""The JSON encoding of conditions (the seed's `rule_payload`) and the validation of stored conditions.

The encoding is msgspec's encoding of the AST structs (tag field `kind`); it is permanent.
Validation refuses what evaluation would silently treat as a non-match: unknown operators, constants
of the wrong type, regexes the engine will not run, invalid versions or dates, oversized or too-deep
trees. `recorded=True` is for conditions already in the log travelling to evaluators (the sync wire):
it lets through patterns an older release accepted but RE2 refuses (lookahead, atomic groups), which
evaluate as non-matches, so one such leaf cannot stop a whole environment from syncing.
"""

from __future__ import annotations

import math
import re

import msgspec

from domain.conditions.ast import And, Condition, Leaf, LeafValue, Not, Op, Or
from domain.conditions.dates import to_epoch_millis
from domain.conditions.interpret import MAX_CONDITION_DEPTH, exceeds_depth
from domain.conditions.regex import regex_problem
from domain.conditions.semver import parse_semver

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_NODES = 2000
MAX_LIST_ITEMS = 1000
MAX_STRING_LENGTH = 1024
MAX_INT = 2**63 - 1  # JSON consumers in other languages read 64-bit integers

_ENCODER = msgspec.json.Encoder()
_DECODER: msgspec.json.Decoder[Condition] = msgspec.json.Decoder(Condition)
_AT = re.compile(r" - at `\$(.*)`$")
_NUMERIC = frozenset({Op.LT, Op.LTE, Op.GT, Op.GTE})
_SEMVER = frozenset({Op.SEMVER_EQ, Op.SEMVER_LT, Op.SEMVER_LTE, Op.SEMVER_GT, Op.SEMVER_GTE})
_STRINGS = frozenset({Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH})


class ConditionError(ValueError):
    """A malformed condition; `path` is a JSON pointer into its encoding ("" is the root)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '/'}: {message}")
        self.path = path
        self.message = message


def encode_condition(condition: Condition, *, recorded: bool = False) -> bytes:
    """The JSON encoding; raises ConditionError for a condition `decode_condition` would refuse."""
    validate_condition(condition, recorded=recorded)
    return _ENCODER.encode(condition)


def decode_condition(data: bytes, *, recorded: bool = False) -> Condition:
    """The condition `data` encodes; raises ConditionError (with a path) for anything malformed."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ConditionError("", f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        condition = _DECODER.decode(data)
    except msgspec.ValidationError as err:
        raise ConditionError(*_split(str(err))) from None
    except msgspec.DecodeError as err:
        raise ConditionError("", f"malformed JSON: {err}") from None
    except RecursionError:
        raise ConditionError("", f"nested deeper than {MAX_CONDITION_DEPTH} levels") from None
    validate_condition(condition, recorded=recorded)
    return condition


def validate_condition(condition: Condition, *, recorded: bool = False) -> None:
    """Raise ConditionError at the first problem; a valid condition round-trips exactly."""
    if exceeds_depth(condition, MAX_CONDITION_DEPTH):
        raise ConditionError("", f"nested deeper than {MAX_CONDITION_DEPTH} levels")
    if _count_nodes(condition) > MAX_NODES:
        raise ConditionError("", f"more than {MAX_NODES} nodes")
    _check(condition, "", recorded)


def _split(message: str) -> tuple[str, str]:
    """msgspec's "... - at `$.a[0].b`" as ("/a/0/b", "...")."""
    m = _AT.search(message)
    if m is None:
        return "", message
    pointer = re.sub(r"\[(\d+)\]", r".\1", m.group(1)).replace(".", "/")
    return pointer, message[: m.start()]


def _count_nodes(condition: Condition) -> int:
    count, stack = 0, [condition]
    while stack and count <= MAX_NODES:
        node = stack.pop()
        count += 1
        if isinstance(node, And | Or):
            stack.extend(node.children)
        elif isinstance(node, Not):
            stack.append(node.child)
    return count


def _check(condition: Condition, path: str, recorded: bool) -> None:
    match condition:
        case And(children=children) | Or(children=children):
            for i, child in enumerate(children):
                _check(child, f"{path}/children/{i}", recorded)
        case Not(child=child):
            _check(child, f"{path}/child", recorded)
        case Leaf():
            _check_leaf(condition, path, recorded)


def _check_leaf(leaf: Leaf, path: str, recorded: bool) -> None:
    attribute = leaf.attribute
    if not attribute.context_type or len(attribute.context_type) > MAX_STRING_LENGTH:
        raise ConditionError(f"{path}/attribute/context_type", "must be a non-empty short string")
    if attribute.name is not None and not 0 < len(attribute.name) <= MAX_STRING_LENGTH:
        raise ConditionError(f"{path}/attribute/name", "must be null or a non-empty short string")
    problem = leaf_value_problem(leaf.op, leaf.value, recorded=recorded)
    if problem is not None:
        raise ConditionError(f"{path}/value", f"{leaf.op.value}: {problem}")


def leaf_value_problem(op: Op, value: LeafValue, *, recorded: bool = False) -> str | None:
    """Why `value` is not a valid constant for `op`, or None (`recorded`: see the module docstring)."""
    if op in (Op.EXISTS, Op.NOT_EXISTS):
        return None if value is None else "takes no value"
    if op in (Op.IN_SEGMENT, Op.NOT_IN_SEGMENT):
        return None if isinstance(value, str) and value else "needs a segment key"
    if op in (Op.IN, Op.NOT_IN):
        if not isinstance(value, tuple):
            return "needs a list"
        if len(value) > MAX_LIST_ITEMS:
            return f"more than {MAX_LIST_ITEMS} items"
        return next(filter(None, map(_scalar_problem, value)), None)
    if isinstance(value, tuple) and op in _STRINGS:
        if not value or not all(isinstance(v, str) for v in value):
            return "needs a string or a non-empty list of strings"
        return next(filter(None, map(_scalar_problem, value)), None)
    return _scalar_problem(value) or _typed_problem(op, value, recorded)


def _scalar_problem(value: LeafValue) -> str | None:
    if value is None or isinstance(value, tuple):
        return "needs a single value"
    if isinstance(value, float) and not math.isfinite(value):
        return "numbers must be finite"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return "integers must fit in 64 bits"
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        return f"strings are limited to {MAX_STRING_LENGTH} characters"
    return None


def _typed_problem(op: Op, value: LeafValue, recorded: bool) -> str | None:
    if op in _STRINGS and not isinstance(value, str):
        return "needs a string or a non-empty list of strings"
    if op is Op.MATCHES:
        if not isinstance(value, str):
            return "needs a pattern string"
        return None if recorded else regex_problem(value)
    if op in _NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
        return "needs a number"
    if op in _SEMVER and (not isinstance(value, str) or parse_semver(value) is None):
        return "needs a semver.org version string"
    if op in (Op.BEFORE, Op.AFTER) and (isinstance(value, bool) or to_epoch_millis(value) is None):
        return "needs an ISO-8601 date-time or epoch milliseconds"
    return None
