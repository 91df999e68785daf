"""Unleash client-specification toggles translated into flag definitions in our condition language.

A feature becomes a bool flag: each strategy a rule serving "on" when all its constraints (and its
global segments, as rule segments) hold, the fallthrough "off". The Unleash context becomes one
context of type "unleash" whose parameters are its fields and properties; the strings Unleash
compares numerically become numbers when they parse as such.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.conditions.ast import And, Attribute, Condition, Leaf, Not, Op
from domain.conditions.codec import ConditionError, validate_condition
from domain.conditions.segments import StaticSegments
from domain.context import Context, ContextSet, ParamValue
from domain.flags.model import FlagConfig, FlagDefinition, Rule, RuleSegment, Serve, ValueType, Variant
from tests.conformance.common import Rejected, Unsupported

CTX = "unleash"
_OPS = {
    "STR_STARTS_WITH": Op.STARTS_WITH, "STR_ENDS_WITH": Op.ENDS_WITH, "STR_CONTAINS": Op.CONTAINS,
    "NUM_EQ": Op.EQ, "NUM_GT": Op.GT, "NUM_GTE": Op.GTE, "NUM_LT": Op.LT, "NUM_LTE": Op.LTE,
    "DATE_AFTER": Op.AFTER, "DATE_BEFORE": Op.BEFORE, "SEMVER_EQ": Op.SEMVER_EQ, "SEMVER_GT": Op.SEMVER_GT,
    "SEMVER_GTE": Op.SEMVER_GTE, "SEMVER_LT": Op.SEMVER_LT, "SEMVER_LTE": Op.SEMVER_LTE, "REGEX": Op.MATCHES,
}  # fmt: skip


def segment_key(segment_id: int) -> str:
    """Our key for an Unleash global segment."""
    return f"segment-{segment_id}"


def constraint(c: dict[str, Any]) -> Condition:
    """One Unleash constraint as a condition; raises Unsupported or Rejected."""
    name, op = c["contextName"], c["operator"]
    values = tuple(c.get("values") or ())
    if c.get("caseInsensitive"):
        if op != "REGEX" or not isinstance(c.get("value"), str):
            raise Unsupported("case-insensitive matching is not in our language (but for regexes)")
        c = {**c, "value": f"(?i){c['value']}"}  # RE2 takes inline flags
    attr = Attribute(CTX, name)
    if op in ("IN", "NOT_IN"):
        leaf: Condition = Leaf(attr, Op.IN, values)
        # Unleash's NOT_IN is the negation of IN, true when the field is missing.
        leaf = Not(leaf) if op == "NOT_IN" else leaf
    elif op in _OPS:
        leaf = Leaf(attr, _OPS[op], _constant(op, c.get("value"), values))
    else:
        raise Rejected(f"unknown operator {op}")
    return Not(leaf) if c.get("inverted") else leaf


def _constant(op: str, value: Any, values: tuple[Any, ...]) -> Any:
    if op.startswith("STR_"):
        return values
    if op.startswith("NUM_"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise Rejected(f"{op} needs a number") from None
    return value


def _all(parts: list[Condition]) -> Condition:
    condition = parts[0] if len(parts) == 1 else And(tuple(parts))
    try:
        validate_condition(condition)
    except ConditionError as err:
        raise Rejected(str(err)) from None
    return condition


def strategy_condition(strategy: dict[str, Any]) -> Condition:
    """A strategy's constraints and segments (userWithId is an IN over userId)."""
    parts = [constraint(c) for c in strategy.get("constraints") or ()]
    parts += [Leaf(Attribute(CTX), Op.IN_SEGMENT, segment_key(s)) for s in strategy.get("segments") or ()]
    if strategy["name"] == "userWithId":
        ids = tuple(u.strip() for u in strategy["parameters"]["userIds"].split(","))
        parts.append(Leaf(Attribute(CTX, "userId"), Op.IN, ids))
    elif strategy["name"] != "default":
        raise Unsupported(f"strategy {strategy['name']} is Unleash-specific (rollout hashing, hosts, IPs)")
    return _all(parts) if parts else And(())


def flag(feature: dict[str, Any]) -> FlagDefinition:
    """The feature as a bool flag."""
    strategies = feature.get("strategies") or []
    if not strategies:
        raise Unsupported("a feature without strategies")
    rules = tuple(
        Rule(id=f"s{i}", condition=strategy_condition(s), serve=Serve(variant_key="on"))
        for i, s in enumerate(strategies)
    )
    return FlagDefinition(
        key=feature["name"],
        project_id=UUID(int=1),
        environment_id=UUID(int=2),
        value_type=ValueType.BOOL,
        variants=(Variant(key="on", value=True), Variant(key="off", value=False)),
        config=FlagConfig(
            enabled=feature["enabled"], off_variant="off", fallthrough=Serve(variant_key="off"), rules=rules
        ),
    )


def segments(state: dict[str, Any]) -> StaticSegments:
    """Global segments as rule segments over the unleash context."""
    rules = []
    for s in state.get("segments") or ():
        condition = _all([constraint(c) for c in s["constraints"]]) if s["constraints"] else And(())
        rules.append(
            RuleSegment(id=UUID(int=s["id"]), key=segment_key(s["id"]), context_type=CTX, condition=condition)
        )
    return StaticSegments(rules)


def contexts(context: dict[str, Any], numeric: set[str]) -> ContextSet:
    """The Unleash context; fields named in `numeric` become numbers when they parse."""
    fields = {k: v for k, v in context.items() if k != "properties"} | dict(context.get("properties") or {})
    params: dict[str, ParamValue] = {}
    for name, value in fields.items():
        if isinstance(value, str) and name in numeric:
            try:
                params[name] = float(value)
                continue
            except ValueError:
                pass
        if isinstance(value, bool | int | float | str):
            params[name] = value
    key = context.get("userId")
    return ContextSet(
        (Context(context_type=CTX, key=key if isinstance(key, str) else "anonymous", parameters=params),)
    )


def numeric_fields(state: dict[str, Any]) -> set[str]:
    """Context fields any constraint in the file compares numerically."""
    found: set[str] = set()
    for owner in [*state.get("features", ()), *state.get("segments", ())]:
        pools = [owner.get("constraints") or []] + [
            s.get("constraints") or [] for s in owner.get("strategies", ())
        ]
        for pool in pools:
            found |= {c["contextName"] for c in pool if c["operator"].startswith("NUM_")}
    return found
