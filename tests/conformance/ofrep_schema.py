"""The vendored OFREP OpenAPI's schemas as JSON-schema validators (requests and answers are checked by them).

One repair, for a defect of the vendored spec rather than a loosening: `evaluationSuccess`'s value union
is a `oneOf` whose `codeDefaultFlag` branch (`type: object`, no properties) matches every answer and
whose `integerFlag` is a subset of `floatFlag`, so no answer could ever match exactly one branch; it is
validated as `anyOf`, which still demands one of the typed shapes.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema
import yaml

from tests.conformance.common import CASES_DIR

OFREP_DIR = CASES_DIR / "ofrep"


@functools.cache
def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OFREP_DIR / "openapi.yaml").read_text())
    document = copy.deepcopy(loaded)
    union = document["components"]["schemas"]["evaluationSuccess"]["allOf"][1]
    union["anyOf"] = union.pop("oneOf")
    return document


def document() -> dict[str, Any]:
    """The vendored OFREP OpenAPI document (as repaired above)."""
    return _document()


def validate(component: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError unless `instance` is a valid OFREP `component` schema instance."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": _document()["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def response_component(operation: str, status: int) -> str | None:
    """The component schema the OFREP spec names for an operation's answer at that status (None: no body)."""
    for item in _document()["paths"].values():
        op = item.get("post", {})
        if op.get("operationId") == operation:
            content = op["responses"][str(status)].get("content")
            if content is None:
                return None
            ref: str = content["application/json"]["schema"]["$ref"]
            return ref.rsplit("/", 1)[-1]
    raise KeyError(operation)
