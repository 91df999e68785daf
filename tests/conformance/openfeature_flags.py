"""The OpenFeature gherkin suites' `test-flags.json` as Stitchd flag bodies (the management API's shape).

flagd's `contextEvaluator` expressions are translated by hand (a table below, one entry per distinct
expression in the file): the suites' flags only target on `email` and the `complex-targeted` rule.
"""

from __future__ import annotations

import json
from typing import Any

from tests.conformance.common import CASES_DIR

GHERKIN_DIR = CASES_DIR / "openfeature-spec-gherkin"


def _leaf(name: str, op: str, value: Any) -> dict[str, Any]:
    return {"kind": "leaf", "attribute": {"context_type": "user", "name": name}, "op": op, "value": value}


_EMAIL_IS_BALLMER = _leaf("email", "eq", "ballmer@macrosoft.com")
# expression -> (condition, variant it serves when true); the false branch '' is the default variant.
EVALUATORS: dict[str, tuple[dict[str, Any], str]] = {
    "email == 'ballmer@macrosoft.com' ? 'zero' : ''": (_EMAIL_IS_BALLMER, "zero"),
    "!customer && email == 'ballmer@macrosoft.com' && age > 10 ? 'internal' : ''": (
        {
            "kind": "and",
            "children": [
                {"kind": "not", "child": _leaf("customer", "eq", True)},  # !customer: false or absent
                _EMAIL_IS_BALLMER,
                _leaf("age", "gt", 10),
            ],
        },
        "internal",
    ),
}


def _value_type(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, float) for v in values):
        return "double"
    if all(isinstance(v, str) for v in values):
        return "string"
    return "json"


def flag_bodies() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(create body, rules) for every flag whose default variant is defined."""
    flags: dict[str, Any] = json.loads((GHERKIN_DIR / "test-flags.json").read_text())
    bodies = []
    for key, flag in flags.items():
        default = flag.get("defaultVariant")
        if default is None:
            continue  # null-default-flag, undefined-default-flag: no scenario of these suites reads them
        variants = [{"key": k, "value": v} for k, v in flag["variants"].items()]
        body = {
            "key": key,
            "value_type": _value_type([v["value"] for v in variants]),
            "variants": variants,
            "enabled": not flag.get("disabled", False),
            "off_variant": default,
            "fallthrough": {"variant_key": default},
        }
        rules = []
        if "contextEvaluator" in flag:
            condition, serves = EVALUATORS[flag["contextEvaluator"]]
            rules.append({"id": "evaluator", "condition": condition, "serve": {"variant_key": serves}})
        bodies.append((body, rules))
    return bodies
