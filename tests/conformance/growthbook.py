"""GrowthBook evalCondition cases (Mongo-style conditions) translated into our condition language.

One context of type "user" carries the attributes, nested objects flattened to dotted names
("father.age"); `id` is also the context key, which is what list segments ($inGroup) check.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.conditions.ast import And, Attribute, Condition, Leaf, Not, Op, Or
from domain.conditions.codec import ConditionError, validate_condition
from domain.conditions.segments import StaticSegments
from domain.context import Context, ContextSet, ParamValue
from domain.flags.model import ListSegmentMeta
from tests.conformance.common import Rejected, Unsupported

_NUMERIC = {"$gt": Op.GT, "$gte": Op.GTE, "$lt": Op.LT, "$lte": Op.LTE}
_SEMVER = {
    "$veq": Op.SEMVER_EQ,
    "$vgt": Op.SEMVER_GT,
    "$vgte": Op.SEMVER_GTE,
    "$vlt": Op.SEMVER_LT,
    "$vlte": Op.SEMVER_LTE,
}
_KNOWN_UNSUPPORTED = {"$elemMatch", "$size", "$all", "$alli", "$type", "$ini", "$nini"}


class Translation:
    """One case's condition, contexts and segments in our terms."""

    def __init__(self, condition: Any, attributes: dict[str, Any], groups: dict[str, list[Any]]) -> None:
        self.referenced: set[str] = set()
        self.uses_groups = False
        self.condition = self._node(condition)
        self.contexts = self._contexts(attributes)
        self.segments = self._segments(groups)
        try:
            validate_condition(self.condition)
        except ConditionError as err:
            raise Rejected(str(err)) from None

    def _node(self, node: Any) -> Condition:
        if not isinstance(node, dict):
            raise Unsupported("non-object condition")
        parts: list[Condition] = []
        for key, arg in node.items():
            if key in ("$and", "$or", "$nor"):
                children = tuple(self._node(child) for child in arg)
                parts.append(
                    And(children) if key == "$and" else Or(children) if key == "$or" else Not(Or(children))
                )
            elif key == "$not":
                parts.append(Not(self._node(arg)))
            else:  # GrowthBook reads any other key, even "$groups", as an attribute name
                parts.append(self._field(key, arg))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _field(self, name: str, arg: Any) -> Condition:
        self.referenced.add(name)
        if isinstance(arg, dict) and arg and all(k.startswith("$") for k in arg):
            parts = [self._operator(name, op, value) for op, value in arg.items()]
            return parts[0] if len(parts) == 1 else And(tuple(parts))
        if isinstance(arg, dict | list):
            raise Unsupported("equality with whole objects or arrays")
        if arg is None:
            return Leaf(Attribute("user", name), Op.NOT_EXISTS)  # contexts cannot hold null: null is absence
        return Leaf(Attribute("user", name), Op.EQ, arg)

    def _operator(self, name: str, op: str, arg: Any) -> Condition:
        attr = Attribute("user", name)
        value = tuple(arg) if isinstance(arg, list) else arg
        if op in _KNOWN_UNSUPPORTED:
            raise Unsupported(
                f"operator {op} (array/type/case-insensitive operators are not in our language)"
            )
        if op in _NUMERIC:
            if isinstance(arg, str):
                raise Unsupported("ordering of strings (our ordering operators are numeric)")
            return Leaf(attr, _NUMERIC[op], value)
        if op in _SEMVER:
            return Leaf(attr, _SEMVER[op], value)
        match op:
            case "$eq":
                return Leaf(attr, Op.EQ, value)
            case "$ne":
                return Not(Leaf(attr, Op.EQ, value))  # GrowthBook's $ne is true for a missing attribute
            case "$in":
                return Leaf(attr, Op.IN, value)
            case "$nin":
                return Not(Leaf(attr, Op.IN, value))
            case "$vne":
                return Not(Leaf(attr, Op.SEMVER_EQ, value))
            case "$regex":
                return Leaf(attr, Op.MATCHES, value)
            case "$regexi":
                return Leaf(attr, Op.MATCHES, f"(?i){value}")  # RE2 takes inline flags
            case "$exists":
                return Leaf(attr, Op.EXISTS if arg else Op.NOT_EXISTS)
            case "$not":
                return Not(self._field(name, arg))
            case "$inGroup" | "$notInGroup":
                return self._group(name, op, arg)
        raise Rejected(f"unknown operator {op}")

    def _group(self, name: str, op: str, group: Any) -> Condition:
        if name != "id":
            raise Unsupported("list segments check context keys, not arbitrary attributes")
        self.uses_groups = True
        leaf = Leaf(Attribute("user"), Op.IN_SEGMENT, group)
        return leaf if op == "$inGroup" else Not(leaf)  # $notInGroup is true for an unknown group

    def _contexts(self, attributes: dict[str, Any]) -> ContextSet:
        flat: dict[str, Any] = {}
        _flatten(attributes, "", flat)
        for name in self.referenced:
            if isinstance(flat.get(name), list | dict):
                raise Unsupported("array- or object-valued attributes (parameters are scalars)")
        raw_id = attributes.get("id")
        if self.uses_groups and not isinstance(raw_id, str):
            raise Unsupported("context keys are strings; this case uses a numeric id")
        params: dict[str, ParamValue] = {
            k: v for k, v in flat.items() if isinstance(v, bool | int | float | str)
        }
        key = raw_id if isinstance(raw_id, str) else "anonymous"
        return ContextSet((Context(context_type="user", key=key, parameters=params),))

    @staticmethod
    def _segments(groups: dict[str, list[Any]]) -> StaticSegments:
        metas = [
            ListSegmentMeta(id=UUID(int=i + 1), key=k, context_type="user") for i, k in enumerate(groups)
        ]
        members = {k: [("user", v) for v in values if isinstance(v, str)] for k, values in groups.items()}
        return StaticSegments(lists=metas, members=members)


def _flatten(value: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, item in value.items():
        name = prefix + key
        if isinstance(item, dict) and item:
            out[name] = item
            _flatten(item, name + ".", out)
        elif item is not None:
            out[name] = item
