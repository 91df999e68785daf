"""Unleash client-specification constraint and segment cases through our evaluation.

Each case passes, or is skipped with a one-line reason (from the adapter, or DIVERGENT, which is
re-checked so it cannot go stale).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.compiled import compile_flag
from domain.evaluation import evaluate
from tests.conformance import unleash
from tests.conformance.common import CASES_DIR, Rejected, Unsupported

SPEC_DIR = CASES_DIR / "unleash-client-specification" / "specifications"
PORTABLE = [
    "09-strategy-constraints.json",
    "11-strategy-constraints-edge-cases.json",
    "13-constraint-operators.json",
    "14-constraint-semver-operators.json",
    "15-global-constraints.json",
    "21-regex-constraint-operators.json",
]
# RE2 (the `matches` engine) reads Unleash's regex cases as Unleash does: POSIX classes and inline
# flags anywhere included; nothing diverges today.
DIVERGENT: dict[str, str] = {}


def _cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    cases = []
    for name in PORTABLE:
        spec = json.loads((SPEC_DIR / name).read_text())
        cases += [(name, spec["state"], test) for test in spec["tests"]]
    return cases


CASES = _cases()


def verdict(state: dict[str, Any], test: dict[str, Any]) -> bool:
    """Whether our evaluation serves "on"; False when our codec refuses a constraint."""
    feature = next((f for f in state["features"] if f["name"] == test["toggleName"]), None)
    if feature is None:
        return False  # Unleash answers false for an unknown toggle
    try:
        definition = unleash.flag(feature)
        segments = unleash.segments(state)
    except Rejected:
        return False
    contexts = unleash.contexts(test["context"], unleash.numeric_fields(state))
    result = evaluate(definition, contexts, segments=segments, sequence=1)
    assert compile_flag(definition).evaluate(contexts, segments, 1) == result
    return result.variant_key == "on"


@pytest.mark.parametrize(
    ("file", "state", "test"), CASES, ids=[f"{c[0][:2]}-{c[2]['description']}" for c in CASES]
)
def test_toggle(file: str, state: dict[str, Any], test: dict[str, Any]) -> None:
    reason = DIVERGENT.get(test["description"])
    if reason is not None:
        assert verdict(state, test) is not test["expectedResult"], "stale DIVERGENT entry"
        pytest.skip(reason)
    try:
        actual = verdict(state, test)
    except Unsupported as why:
        pytest.skip(str(why))
    assert actual is test["expectedResult"]
