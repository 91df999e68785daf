"""GrowthBook's evalCondition cases: each passes, or is skipped with a one-line reason.

Reasons come from the adapter (features our language deliberately lacks) or from DIVERGENT, cases
where both languages can express the condition but we decided differently; those are re-checked so
the list cannot go stale.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.conditions.codec import decode_condition, encode_condition
from domain.conditions.compiler import compile_condition
from domain.conditions.interpret import matches
from tests.conformance.common import CASES_DIR, Rejected, Unsupported
from tests.conformance.growthbook import Translation

CASES_FILE = CASES_DIR / "growthbook" / "cases.json"
CASES: list[list[Any]] = json.loads(CASES_FILE.read_text())["evalCondition"]

LAX_VERSIONS = (
    "GrowthBook normalises non-semver versions (v prefix, '-' separators, extra parts); we follow semver.org"
)
DIVERGENT: dict[str, str] = {
    "empty $or - pass": "an empty Or is false in our language (the unit of disjunction), true in GrowthBook",
    "comparing numbers and strings": "no string-to-number coercion: a type mismatch makes a leaf false",
    "missing attribute with comparison operators": "a missing attribute makes an ordering leaf false",
} | dict.fromkeys(
    [
        "version v0.0.0 > 0.0.0-foo",
        "version v0.0.1 > 0.0.0",
        "version v1.0.0 > 0.9.9",
        "version v0.10.0 > 0.9.0",
        "version v0.99.0 > 0.10.0",
        "version v2.0.0 > 1.2.3",
        "version 0.0.0 > v0.0.0-foo",
        "version 0.0.1 > v0.0.0",
        "version 1.0.0 > v0.9.9",
        "version 0.10.0 > v0.9.0",
        "version 0.99.0 > v0.10.0",
        "version 2.0.0 > v1.2.3",
        "version a.b.c.d.e.f > 1.2.3",
        "version 1.2.3 == v1.2.3",
        "version 1.2.3-0 == v1.2.3-0",
        "version 1.2.3-1 == v1.2.3-1",
        "version 1.2.3-beta == v1.2.3-beta",
        "version 1.2.3-beta+build == v1.2.3-beta+otherbuild",
        "version 1-2-3 == 1.2.3",
        "version 1-2-3 == 1-2.3+build99",
        "version 1-2-3 == v1.2.3",
        "version 1.2.3.4 == 1.2.3-4",
    ],
    LAX_VERSIONS,
)


def verdict(case: list[Any]) -> bool:
    """Our answer for a case (False when our codec refuses its condition); raises Unsupported."""
    _, condition, attributes, _, *rest = case
    try:
        translation = Translation(condition, attributes, rest[0] if rest else {})
    except Rejected:
        return False
    result = matches(translation.condition, translation.contexts, translation.segments)
    decoded = decode_condition(encode_condition(translation.condition))
    assert decoded == translation.condition
    assert compile_condition(decoded)(translation.contexts, translation.segments, 0) is result
    return result


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c[0]}" for i, c in enumerate(CASES)])
def test_eval_condition(case: list[Any]) -> None:
    name, expected = case[0], case[3]
    if name in DIVERGENT:
        assert verdict(case) is not expected, f"stale DIVERGENT entry: {name!r} now passes"
        pytest.skip(DIVERGENT[name])
    try:
        actual = verdict(case)
    except Unsupported as reason:
        pytest.skip(str(reason))
    assert actual is expected
