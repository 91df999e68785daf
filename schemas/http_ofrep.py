"""The OFREP request body (docs/openfeature.md), bounded like every SDK body (schemas/http_context.py).

`context` is an OpenFeature evaluation context: scalar attributes, `privateAttributes` (a list of
names) and, in a multi-kind context, one nested object per context type. The shapes are decoded
strictly here; which attribute may hold what is the mapping's rule (domain/openfeature_context.py),
and the contexts it yields are held to the SDK bodies' bounds (`ContextBody`) before evaluation.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from domain.openfeature_context import RESERVED
from schemas.http_context import MAX_ATTRIBUTES, AttributeName, AttributeValue, PrivateAttributes

MAX_OFREP_FIELDS: Final = MAX_ATTRIBUTES + len(RESERVED)  # attributes plus targetingKey, kind, ...

OfrepField = AttributeValue | PrivateAttributes | None
OfrepNestedContext = Annotated[dict[AttributeName, OfrepField], msgspec.Meta(max_length=MAX_OFREP_FIELDS)]
OfrepContext = Annotated[
    dict[AttributeName, OfrepField | OfrepNestedContext], msgspec.Meta(max_length=MAX_OFREP_FIELDS)
]


class OfrepEvaluationRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Both evaluation endpoints' body; other fields are ignored (the OFREP schema allows them)."""

    context: OfrepContext | None = None
