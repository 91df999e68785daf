"""The JSON schema of an OFREP request body: exactly what gateway/ofrep_body.py accepts.

Leaves are msgspec's own schemas of the SDK bodies' bounded types (schemas/http_context.py). Counts
exclude the reserved names (targetingKey, kind, privateAttributes), which JSON Schema cannot say
directly; each combination of reserved names present is therefore its own `if`/`then` bound on the
number of properties.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import msgspec

from domain.openfeature_context import KIND, MULTI, PRIVATE, TARGETING_KEY
from schemas.http_context import (
    MAX_ATTRIBUTES,
    MAX_CONTEXTS,
    AttributeName,
    AttributeValue,
    ContextKey,
    ContextType,
    PrivateAttributes,
)

Doc = dict[str, Any]
_NULL: Doc = {"type": "null"}


def _schema(tp: Any) -> Doc:
    doc: Doc = msgspec.json.schema(tp)
    return doc


def _nullable(doc: Doc) -> Doc:
    return {"anyOf": [*doc.get("anyOf", [doc]), _NULL]}


def _counts(optional: tuple[str, ...], fixed: int, low: int, high: int) -> list[Doc]:
    """`fixed` reserved names always present, any of `optional`; low..high other properties."""
    bounds = []
    for size in range(len(optional) + 1):
        for present in combinations(optional, size):
            absent = {name: False for name in optional if name not in present}
            reserved = fixed + len(present)
            then: Doc = {"maxProperties": reserved + high}
            if low:
                then["minProperties"] = reserved + low
            bounds.append({"if": {"required": list(present), "properties": absent}, "then": then})
    return bounds


def _one(kind: Doc, *, nested: bool) -> Doc:
    optional = (KIND, PRIVATE)
    return {
        "type": "object",
        "propertyNames": _schema(AttributeName),
        "properties": {
            TARGETING_KEY: _schema(ContextKey),
            KIND: kind,
            PRIVATE: _nullable(_schema(PrivateAttributes)),
        },
        "required": [TARGETING_KEY],
        "additionalProperties": _nullable(_schema(AttributeValue)),
        "allOf": _counts(optional, 1, 0, MAX_ATTRIBUTES),
        **({} if nested else {"description": "One context: targetingKey, kind (default user), attributes"}),
    }


def request_schema() -> Doc:
    """OfrepEvaluationRequest: `context` one context or a multi-kind one (docs/openfeature.md)."""
    field = _nullable({"anyOf": [*_schema(AttributeValue)["anyOf"], _schema(PrivateAttributes)]})
    single = _one({**_schema(ContextType), "not": {"const": MULTI}}, nested=False)
    multi: Doc = {
        "type": "object",
        "description": "kind multi: every other property is one context of that type",
        "propertyNames": {**_schema(ContextType), "minLength": 1},
        "properties": {
            KIND: {"const": MULTI},
            TARGETING_KEY: _nullable(_schema(AttributeValue)["anyOf"][-1]),  # ignored
            PRIVATE: _nullable(_schema(PrivateAttributes)),  # ignored
        },
        "required": [KIND],
        "additionalProperties": _one(field, nested=True),
        "allOf": _counts((TARGETING_KEY, PRIVATE), 1, 1, MAX_CONTEXTS),
    }
    return {
        "type": "object",
        "description": "An OpenFeature evaluation context, one or several (kind multi): docs/openfeature.md",
        "properties": {"context": {"anyOf": [single, multi]}},
        "required": ["context"],
    }
