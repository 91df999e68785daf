"""Condition trees: And, Or, Not and Leaf comparisons over context attributes.

The JSON encoding of these trees is the seed's `rule_payload` (see `domain.conditions.codec`).
"""

from __future__ import annotations

import enum

import msgspec


class Op(enum.StrEnum):
    """Leaf operators; the wire names are permanent."""

    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    MATCHES = "matches"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    SEMVER_EQ = "semver_eq"
    SEMVER_LT = "semver_lt"
    SEMVER_LTE = "semver_lte"
    SEMVER_GT = "semver_gt"
    SEMVER_GTE = "semver_gte"
    BEFORE = "before"
    AFTER = "after"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"
    IN_SEGMENT = "in_segment"
    NOT_IN_SEGMENT = "not_in_segment"


Scalar = bool | int | float | str
LeafValue = Scalar | tuple[Scalar, ...] | None


class Attribute(msgspec.Struct, frozen=True):
    """A context type and one of its parameters; `name=None` means the context's key."""

    context_type: str
    name: str | None = None


class Leaf(msgspec.Struct, frozen=True, tag="leaf", tag_field="kind"):
    """Compare one attribute; for IN_SEGMENT the value is the segment key."""

    attribute: Attribute
    op: Op
    value: LeafValue = None


class And(msgspec.Struct, frozen=True, tag="and", tag_field="kind"):
    """True when every child is true (an empty And is true)."""

    children: tuple[Condition, ...] = ()


class Or(msgspec.Struct, frozen=True, tag="or", tag_field="kind"):
    """True when any child is true (an empty Or is false)."""

    children: tuple[Condition, ...] = ()


class Not(msgspec.Struct, frozen=True, tag="not", tag_field="kind"):
    """Negation."""

    child: Condition


Condition = And | Or | Not | Leaf
ALWAYS: Condition = And(())
