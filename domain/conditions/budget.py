"""The evaluation cost budget: what one flag's rules or one segment's condition may hold.

Evaluation runs on the gateway's event loop and in every SDK of the tenant, so its cost must be
bounded when a definition is written, not discovered when it is served. Every limit is a named
constant here (documented in docs/api-flags.md); the deciders check them and answer
EvaluationBudgetExceeded (400 INVALID_ARGUMENT) naming the limit.

What this bounds, per evaluation of one flag: at most MAX_FLAG_NODES nodes of the flag, plus at most
MAX_SEGMENT_EVALUATIONS rule-segment conditions (each within the segment budget) - evaluation asks each
segment once per nesting level and stops asking after that many (`domain.conditions.segments`). A regex
leaf costs O(MAX_INPUT_LENGTH x MAX_PROGRAM_SIZE) at worst (`domain.conditions.regex`), an `in` leaf is
one set look-up, a string leaf scans its needles.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from domain.conditions.ast import And, Condition, Leaf, Not, Op, Or
from domain.conditions.interpret import MAX_CONDITION_DEPTH

MAX_RULES = 100  # rules of one flag configuration
MAX_FLAG_LEAVES = 500  # condition leaves across all rules of a flag
MAX_SEGMENT_LEAVES = 500  # condition leaves of one rule segment
MAX_FLAG_NODES = 1_000  # leaves plus and / or / not nodes across all rules of a flag
MAX_SEGMENT_NODES = 1_000  # leaves plus and / or / not nodes of one rule segment
MAX_REGEX_LEAVES = 16  # `matches` leaves across a flag's rules, or in one segment
MAX_TOTAL_LIST_ITEMS = 10_000  # constants in `in` / `not_in` and string-list leaves, summed
MAX_SEGMENT_REFERENCES = 32  # `in_segment` / `not_in_segment` leaves across a flag's rules, or in one segment
MAX_DEPTH = MAX_CONDITION_DEPTH  # nesting of one condition (the codec refuses deeper trees)

_SEGMENT_OPS = frozenset({Op.IN_SEGMENT, Op.NOT_IN_SEGMENT})


class Cost(NamedTuple):
    """What a set of conditions asks of evaluation."""

    rules: int = 0
    nodes: int = 0
    leaves: int = 0
    regex_leaves: int = 0
    list_items: int = 0
    segment_references: int = 0
    depth: int = 0


def condition_cost(condition: Condition) -> Cost:
    """The cost of one condition (iterative: any depth is safe)."""
    nodes = leaves = regexes = items = refs = depth = 0
    stack: list[tuple[Condition, int]] = [(condition, 1)]
    while stack:
        node, level = stack.pop()
        nodes, depth = nodes + 1, max(depth, level)
        match node:
            case And(children=children) | Or(children=children):
                stack.extend((child, level + 1) for child in children)
            case Not(child=child):
                stack.append((child, level + 1))
            case Leaf(op=op, value=value):
                leaves += 1
                regexes += op is Op.MATCHES
                refs += op in _SEGMENT_OPS
                items += len(value) if isinstance(value, tuple) else 0
    return Cost(0, nodes, leaves, regexes, items, refs, depth)


def rules_cost(conditions: Iterable[Condition]) -> Cost:
    """The cost of a flag's rules: one rule per condition, leaves and items summed, the deepest depth."""
    costs = [condition_cost(condition) for condition in conditions]
    return Cost(
        rules=len(costs),
        nodes=sum(c.nodes for c in costs),
        leaves=sum(c.leaves for c in costs),
        regex_leaves=sum(c.regex_leaves for c in costs),
        list_items=sum(c.list_items for c in costs),
        segment_references=sum(c.segment_references for c in costs),
        depth=max((c.depth for c in costs), default=0),
    )


def flag_budget_problem(cost: Cost) -> str | None:
    """Which flag limit `cost` exceeds (a message naming it), or None."""
    if cost.rules > MAX_RULES:
        return f"a flag may have at most {MAX_RULES} rules ({cost.rules} given)"
    return _problem("a flag's rules", cost, MAX_FLAG_LEAVES, MAX_FLAG_NODES)


def segment_budget_problem(cost: Cost) -> str | None:
    """Which segment limit `cost` exceeds (a message naming it), or None."""
    return _problem("a segment's condition", cost, MAX_SEGMENT_LEAVES, MAX_SEGMENT_NODES)


def _problem(what: str, cost: Cost, max_leaves: int, max_nodes: int) -> str | None:
    checks = (
        (cost.leaves, max_leaves, "condition leaves"),
        (cost.nodes, max_nodes, "condition nodes"),
        (cost.regex_leaves, MAX_REGEX_LEAVES, "regex (matches) leaves"),
        (cost.list_items, MAX_TOTAL_LIST_ITEMS, "list items"),
        (cost.segment_references, MAX_SEGMENT_REFERENCES, "segment references"),
        (cost.depth, MAX_DEPTH, "levels of nesting"),
    )
    for used, limit, unit in checks:
        if used > limit:
            return f"{what} may hold at most {limit} {unit} ({used} given)"
    return None
