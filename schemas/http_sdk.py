"""HTTP bodies of the SDK routes (x-sdk-key): evaluate, evaluate-all, segments list-check; seed snake_case.

A request names one context (`context_type`, `context_key`, `attributes`, as in the seed) or several
(`contexts`, for multi-context flags); `private_attributes` are used for evaluation but never leave it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from domain.context import Context, ContextSet
from domain.flags.model import EvaluationResult
from schemas.http_context import (
    MAX_CONTEXTS,
    Attributes,
    ContextKey,
    ContextType,
    DefinitionKey,
    PrivateAttributes,
)

MAX_BATCH_CHECKS = 1000


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (400)."""


class ContextBody(Body, frozen=True, kw_only=True):
    context_type: ContextType = "user"
    context_key: ContextKey
    attributes: Attributes = {}
    private_attributes: PrivateAttributes = []

    def to_domain(self) -> Context:
        """The domain context."""
        return Context(
            context_type=self.context_type,
            key=self.context_key,
            parameters=dict(self.attributes),
            private_parameters=frozenset(self.private_attributes),
        )


_ONE_CONTEXT_OR_SEVERAL: dict[str, Any] = {
    "anyOf": [
        {
            "required": ["context_key"],
            "properties": {"context_key": {"type": "string"}, "contexts": {"type": "null"}},
        },
        {
            "required": ["contexts"],
            "properties": {"contexts": {"type": "array", "minItems": 1}, "context_key": {"type": "null"}},
        },
    ],
    "description": "Either `context_key` (one context) or a non-empty `contexts`, one per context_type.",
}


class ContextsBody(Body, frozen=True, kw_only=True):
    """Either the seed's single context fields or `contexts`; not both."""

    __json_schema_extra__: ClassVar[dict[str, Any]] = _ONE_CONTEXT_OR_SEVERAL

    context_type: ContextType = "user"
    context_key: ContextKey | None = None
    attributes: Attributes = {}
    private_attributes: PrivateAttributes = []
    contexts: Annotated[list[ContextBody], msgspec.Meta(max_length=MAX_CONTEXTS)] | None = None

    def context_set(self) -> ContextSet | str:
        """The context set, or the reason the body does not name one."""
        if self.contexts is not None:
            if self.context_key is not None:
                return "send either context_key or contexts, not both"
            types = [c.context_type for c in self.contexts]
            if not types or len(set(types)) != len(types):
                return "contexts must be non-empty with at most one context per context_type"
            return ContextSet(tuple(c.to_domain() for c in self.contexts))
        if self.context_key is None:
            return "context_key (or contexts) is required"
        single = ContextBody(
            context_type=self.context_type,
            context_key=self.context_key,
            attributes=self.attributes,
            private_attributes=self.private_attributes,
        )
        return ContextSet((single.to_domain(),))


class EvaluateBody(ContextsBody, frozen=True, kw_only=True):
    flag_key: DefinitionKey


class EvaluateAllBody(ContextsBody, frozen=True, kw_only=True):
    pass


class EvaluationView(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's answer (flag_key, variant_key, is_enabled) plus the full evaluation result.

    `is_enabled` is whether the flag is switched on in this environment (false when disabled or unknown);
    `value` is null on error (the caller's default applies); `sequence` is the definition sequence used.
    """

    flag_key: str
    variant_key: str | None
    is_enabled: bool
    value: Any
    reason: str
    rule_id: str | None = None
    error_code: str | None = None
    sequence: int


def evaluation_view(result: EvaluationResult, *, is_enabled: bool) -> EvaluationView:
    """The HTTP answer for one evaluation; `is_enabled` is the flag's switch where it was evaluated."""
    return EvaluationView(
        flag_key=result.flag_key,
        variant_key=result.variant_key,
        is_enabled=is_enabled,
        value=result.value,
        reason=result.reason.value,
        rule_id=result.rule_id,
        error_code=None if result.error_code is None else result.error_code.value,
        sequence=result.sequence,
    )


class EvaluateAllView(msgspec.Struct, frozen=True, kw_only=True):
    flags: list[EvaluationView]
    sequence: int


class ListCheckBody(Body, frozen=True, kw_only=True):
    segment_key: DefinitionKey
    context_type: ContextType = "user"
    context_key: ContextKey


class ListCheckView(msgspec.Struct, frozen=True, kw_only=True):
    is_member: bool


class BatchListCheckBody(Body, frozen=True, kw_only=True):
    checks: list[ListCheckBody]


class ListCheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """One pair's answer; `found` is false for a key that names no list segment (then not a member)."""

    segment_key: str
    context_type: str
    context_key: str
    is_member: bool
    found: bool


class BatchListCheckView(msgspec.Struct, frozen=True, kw_only=True):
    results: list[ListCheckResult]
