"""An OpenFeature evaluation context mapped onto our ContextSet, for OFREP and the SDK provider.

One context: `targetingKey` is its key, `kind` its context type (default "user"), `privateAttributes`
the names of attributes used for evaluation only, every other scalar attribute a parameter.
Several (multi-kind): `kind: "multi"`, and each other attribute is an object holding one context of
the type named by the attribute, in the same shape (its own `targetingKey`, attributes and
`privateAttributes`); a top-level `targetingKey` (the merged global context's) is then ignored.
Null attributes are absent; lists and nested objects outside a multi-kind context are refused. In a
multi-kind context every attribute but the reserved ones is a context (null is refused there), and a
top-level `targetingKey` / `privateAttributes` must still be well-formed although they are ignored.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from domain.context import Context, ContextSet, ParamValue

DEFAULT_CONTEXT_TYPE = "user"
MULTI = "multi"
TARGETING_KEY = "targetingKey"
KIND = "kind"
PRIVATE = "privateAttributes"
RESERVED = frozenset({TARGETING_KEY, KIND, PRIVATE})


class ContextError(enum.StrEnum):
    """The OFREP error codes a context can cause."""

    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"


class ContextRefused(Exception):  # noqa: N818
    """The context cannot be evaluated; `code` is the OFREP error code, the message its details."""

    def __init__(self, code: ContextError, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def to_context_set(context: Any, *, require_key: bool = True) -> ContextSet:
    """The ContextSet of an OFREP `context` (None: none sent); raises ContextRefused.

    `require_key=False` (the in-process provider) lets a single context go without a key (key "").
    """
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise ContextRefused(ContextError.INVALID_CONTEXT, "context must be a JSON object")
    kind = context.get(KIND, DEFAULT_CONTEXT_TYPE)
    if not isinstance(kind, str) or not kind:
        raise ContextRefused(ContextError.INVALID_CONTEXT, "kind must be a non-empty string")
    if kind != MULTI:
        return ContextSet((_one(kind, context, where="context", require_key=require_key),))
    ignored = context.get(TARGETING_KEY)
    if ignored is not None and not isinstance(ignored, str):
        raise ContextRefused(ContextError.INVALID_CONTEXT, "context.targetingKey must be a string")
    _private(context.get(PRIVATE), "context")
    contexts = []
    for name, value in context.items():
        if name in RESERVED:
            continue
        if not isinstance(value, dict):
            details = f"in a multi-kind context, attribute {name!r} must be an object (one context)"
            raise ContextRefused(ContextError.INVALID_CONTEXT, details)
        contexts.append(_one(name, value, where=f"context.{name}"))
    if not contexts:
        raise ContextRefused(ContextError.TARGETING_KEY_MISSING, "a multi-kind context names no context")
    return ContextSet(tuple(contexts))


def _one(context_type: str, attributes: dict[str, Any], *, where: str, require_key: bool = True) -> Context:
    key = attributes.get(TARGETING_KEY)
    if not require_key and key in (None, ""):
        key = ""
    elif key is None or key == "":
        raise ContextRefused(ContextError.TARGETING_KEY_MISSING, f"{where}.targetingKey is required")
    if not isinstance(key, str):
        raise ContextRefused(ContextError.INVALID_CONTEXT, f"{where}.targetingKey must be a string")
    parameters: dict[str, ParamValue] = {}
    for name, value in attributes.items():
        if name in RESERVED or value is None:
            continue
        if isinstance(value, bool | int | float | str):
            parameters[name] = value
            continue
        details = f"{where}.{name}: attributes are strings, numbers or booleans"
        raise ContextRefused(ContextError.INVALID_CONTEXT, details)
    return Context(
        context_type=context_type,
        key=key,
        parameters=parameters,
        private_parameters=_private(attributes.get(PRIVATE), where),
    )


def _private(names: Any, where: str) -> frozenset[str]:
    if names is None:
        return frozenset()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ContextRefused(ContextError.INVALID_CONTEXT, f"{where}.privateAttributes must list names")
    return frozenset(names)


def fingerprint(contexts: ContextSet) -> bytes:
    """Canonical bytes of a context set: equal iff the sets evaluate alike (the ETag's context part)."""
    ordered = sorted(contexts.contexts, key=lambda c: c.context_type)
    return msgspec.json.encode(
        [[c.context_type, c.key, c.parameters, sorted(c.private_parameters)] for c in ordered],
        order="sorted",
    )
