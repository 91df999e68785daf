"""Checks a flag definition or configuration must pass before any event records it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from domain.conditions.ast import And, Condition, Leaf, Not, Op, Or
from domain.conditions.budget import condition_cost, flag_budget_problem, rules_cost, segment_budget_problem
from domain.conditions.codec import ConditionError, validate_condition
from domain.errors import (
    DuplicateRuleId,
    DuplicateVariantKey,
    EvaluationBudgetExceeded,
    InvalidCondition,
    InvalidHashSpec,
    InvalidServe,
    InvalidWeight,
    TooFewVariants,
    UnknownSegment,
    UnknownVariant,
    VariantValueTypeMismatch,
    WeightsNotSummingTo100,
)
from domain.flags.model import (
    TOTAL_WEIGHT_MILLI,
    Allocation,
    FlagConfig,
    FlagValue,
    HashSpec,
    Serve,
    ValueType,
    Variant,
)
from domain.hashing import validate_allocation
from domain.ids import check_key

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SEGMENT_OPS = frozenset({Op.IN_SEGMENT, Op.NOT_IN_SEGMENT})


def value_matches(value_type: ValueType, value: FlagValue) -> bool:
    """Whether `value` is a valid value of `value_type` (doubles accept ints; every JSON value is JSON)."""
    match value_type:
        case ValueType.BOOL:
            return isinstance(value, bool)
        case ValueType.INT:
            return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
        case ValueType.DOUBLE:
            return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        case ValueType.STRING:
            return isinstance(value, str)
        case ValueType.JSON:
            return _finite_json(value)


def _finite_json(value: object) -> bool:
    # Non-finite floats would not survive the JSON round trip (msgspec writes them as null).
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _finite_json(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_finite_json(v) for v in value)
    return value is None or isinstance(value, bool | int | str)


def check_variant(value_type: ValueType, variant: Variant) -> None:
    """A valid key and a value of the flag's type."""
    check_key(variant.key, what="variant key")
    if not value_matches(value_type, variant.value):
        raise VariantValueTypeMismatch(f"variant {variant.key!r} does not hold a {value_type} value")


def check_variants(value_type: ValueType, variants: tuple[Variant, ...]) -> None:
    """At least one variant, unique keys, each value of the flag's type."""
    if not variants:
        raise TooFewVariants("a flag needs at least one variant")
    seen: set[str] = set()
    for variant in variants:
        check_variant(value_type, variant)
        if variant.key in seen:
            raise DuplicateVariantKey(f"duplicate variant key {variant.key!r}")
        seen.add(variant.key)


def check_allocation(allocation: Allocation, variant_keys: frozenset[str]) -> None:
    """Known variants, non-negative weights summing to 100 % (1000 weight_milli)."""
    if not allocation.buckets:
        raise WeightsNotSummingTo100("an allocation needs at least one bucket")
    for bucket in allocation.buckets:
        if bucket.variant_key not in variant_keys:
            raise UnknownVariant(f"allocation names unknown variant {bucket.variant_key!r}")
        if bucket.weight_milli < 0:
            raise InvalidWeight(f"negative weight for variant {bucket.variant_key!r}")
    total = sum(b.weight_milli for b in allocation.buckets)
    if total != TOTAL_WEIGHT_MILLI:
        raise WeightsNotSummingTo100(f"allocation weights sum to {total / 10:g} %, not 100 %")
    check_hash_spec(allocation.hash_spec)
    problems = validate_allocation(allocation, variant_keys)  # evaluation's own gate (e.g. repeated variants)
    if problems:
        raise InvalidWeight("; ".join(problems))


def check_serve(serve: Serve, variant_keys: frozenset[str]) -> None:
    """Exactly one of a known variant or a valid allocation."""
    if (serve.variant_key is None) == (serve.allocation is None):
        raise InvalidServe("serve exactly one of a variant or an allocation")
    if serve.allocation is not None:
        check_allocation(serve.allocation, variant_keys)
    elif serve.variant_key not in variant_keys:
        raise UnknownVariant(f"unknown variant {serve.variant_key!r}")


def check_hash_spec(spec: HashSpec) -> None:
    """Context types and parameter names are non-blank."""
    for context_type, params in spec.items():
        if not context_type.strip() or any(not p.strip() for p in params):
            raise InvalidHashSpec("hashing specs need non-blank context types and parameter names")


def leaves(condition: Condition) -> Iterator[Leaf]:
    """Every leaf of a condition tree, depth first."""
    match condition:
        case Leaf():
            yield condition
        case And(children=children) | Or(children=children):
            for child in children:
                yield from leaves(child)
        case Not(child=child):
            yield from leaves(child)


def check_condition(condition: Condition) -> None:
    """A condition evaluation accepts: typed constants, bounded regexes, size and depth limits."""
    try:
        validate_condition(condition)
    except ConditionError as err:
        raise InvalidCondition(f"invalid condition at {err.path or '/'}: {err.message}") from None


def segment_refs(condition: Condition) -> frozenset[str]:
    """Segment keys named by the tree's in_segment / not_in_segment leaves."""
    refs: set[str] = set()
    for leaf in leaves(condition):
        if leaf.op in SEGMENT_OPS:
            if not isinstance(leaf.value, str) or not leaf.value:
                raise InvalidCondition("an in_segment leaf needs a segment key as its value")
            refs.add(leaf.value)
    return frozenset(refs)


def check_segments(condition: Condition, segment_keys: frozenset[str]) -> None:
    """A valid condition whose referenced segments all exist in the environment."""
    check_condition(condition)
    missing = sorted(segment_refs(condition) - segment_keys)
    if missing:
        raise UnknownSegment(f"rule refers to missing segment(s): {', '.join(missing)}")


def check_config(
    config: FlagConfig, variant_keys: frozenset[str], segment_keys: frozenset[str], *, budget: bool = True
) -> None:
    """A whole environment configuration against the flag's variants and the environment's segments.

    `budget=False` skips the evaluation budget: for a change that keeps the rules as they are, so a
    flag written before the budget existed can still be toggled (a kill switch must always work).
    """
    if config.off_variant not in variant_keys:
        raise UnknownVariant(f"unknown off variant {config.off_variant!r}")
    check_serve(config.fallthrough, variant_keys)
    check_hash_spec(config.hashing)
    if budget:
        check_flag_budget(config)
    _check_rule_ids(r.id for r in config.rules)
    for rule in config.rules:
        check_serve(rule.serve, variant_keys)
        check_segments(rule.condition, segment_keys)


def check_flag_budget(config: FlagConfig) -> None:
    """The rules fit the flag's evaluation budget (`domain.conditions.budget`)."""
    problem = flag_budget_problem(rules_cost(r.condition for r in config.rules))
    if problem is not None:
        raise EvaluationBudgetExceeded(problem)


def check_segment_budget(condition: Condition) -> None:
    """A segment's condition fits the segment's evaluation budget (`domain.conditions.budget`)."""
    problem = segment_budget_problem(condition_cost(condition))
    if problem is not None:
        raise EvaluationBudgetExceeded(problem)


def _check_rule_ids(ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for rule_id in ids:
        check_key(rule_id, what="rule id")
        if rule_id in seen:
            raise DuplicateRuleId(f"duplicate rule id {rule_id!r}")
        seen.add(rule_id)


def served_variants(config: FlagConfig) -> frozenset[str]:
    """Every variant the configuration refers to (off variant, served variants, every bucket)."""
    serves = [config.fallthrough, *(r.serve for r in config.rules)]
    keys = {config.off_variant}
    for serve in serves:
        if serve.variant_key is not None:
            keys.add(serve.variant_key)
        if serve.allocation is not None:
            keys.update(b.variant_key for b in serve.allocation.buckets)
    return frozenset(keys)
