"""An OFREP request body as our ContextSet, or the OFREP error code that refuses it.

The body goes through the gateway's one strict decode (gateway/bodies.py) as OfrepEvaluationRequest,
then the OpenFeature mapping (domain/openfeature_context.py), then the SDK bodies' bounds on each
context (schemas/http_sdk.ContextBody: key, type, attribute count, names, strings, numbers) and on
their number. Malformed JSON or a body that is not an object is PARSE_ERROR; anything wrong inside
`context` is INVALID_CONTEXT (TARGETING_KEY_MISSING for a missing key).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from domain.context import Context, ContextSet
from domain.openfeature_context import KIND, MULTI, RESERVED, ContextRefused, to_context_set
from gateway.bodies import body_message, decode_strict
from schemas.http_context import MAX_ATTRIBUTES, MAX_CONTEXTS
from schemas.http_ofrep import OfrepEvaluationRequest
from schemas.http_sdk import ContextBody

_BOUNDED = Annotated[list[ContextBody], msgspec.Meta(max_length=MAX_CONTEXTS)]
# our field names in a bound's message, as the OpenFeature context names them
_OFREP_NAMES = (
    ("context_type", "kind"),
    ("context_key", "targetingKey"),
    ("private_attributes", "privateAttributes"),
    ("attributes.", ""),
)


class Failure(enum.StrEnum):
    """OFREP error codes that are not about the context (domain.openfeature_context has those)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


class Refused(Exception):  # noqa: N818
    """A request OFREP answers with 400 and an error code."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def contexts_of(raw: bytes) -> ContextSet:
    """The context set of an OFREP request body; raises Refused."""
    try:
        request: OfrepEvaluationRequest = decode_strict(raw, OfrepEvaluationRequest)
    except msgspec.ValidationError as exc:  # a DecodeError too: first
        message = body_message(exc)
        code = Failure.INVALID_CONTEXT if message.startswith("field `context") else Failure.PARSE_ERROR
        raise Refused(code, message) from None
    except msgspec.DecodeError:
        raise Refused(Failure.PARSE_ERROR, "the request body is not JSON") from None
    try:
        contexts = to_context_set(request.context)
    except ContextRefused as refused:
        raise Refused(refused.code, refused.details) from None
    counted(request.context or {})
    bounded(contexts)
    return contexts


def _attributes(context: dict[str, Any]) -> int:
    return sum(name not in RESERVED for name in context)


def counted(context: dict[str, Any]) -> None:
    """INVALID_CONTEXT beyond MAX_ATTRIBUTES attributes besides the reserved names (null ones too: the
    OpenAPI can count those) in any context, or beyond MAX_CONTEXTS contexts in a multi-kind one."""
    contexts = [context]
    if context.get(KIND) == MULTI:
        contexts = [c for c in context.values() if isinstance(c, dict)]
        if len(contexts) > MAX_CONTEXTS:
            details = f"a multi-kind context names at most {MAX_CONTEXTS} contexts"
            raise Refused(Failure.INVALID_CONTEXT, details)
    if any(_attributes(c) > MAX_ATTRIBUTES for c in contexts):
        raise Refused(Failure.INVALID_CONTEXT, f"a context holds at most {MAX_ATTRIBUTES} attributes")


def bounded(contexts: ContextSet) -> None:
    """INVALID_CONTEXT unless every context is within the bounds of an SDK body."""
    try:
        msgspec.convert([_as_body(c) for c in contexts.contexts], _BOUNDED, strict=True)
    except msgspec.ValidationError as exc:
        message = body_message(exc)
        for ours, theirs in _OFREP_NAMES:
            message = message.replace(ours, theirs)
        raise Refused(Failure.INVALID_CONTEXT, f"context out of bounds: {message}") from None


def _as_body(context: Context) -> dict[str, Any]:
    return {
        "context_type": context.context_type,
        "context_key": context.key,
        "attributes": context.parameters,
        "private_attributes": sorted(context.private_parameters),
    }
