"""Bounds on what an SDK may say about a context, shared by every SDK body (evaluate, list checks,
events, exposures): enforced when the body is decoded (400 INVALID_ARGUMENT) and stated in the OpenAPI.

A context key may be as long as a list-segment member key (`MAX_CONTEXT_KEY_LENGTH`), so any member
can be evaluated, checked and reported. Numbers are int64 and finite float64, as everywhere at the edge.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from domain.segments.members import MAX_CONTEXT_KEY_LENGTH

MAX_CONTEXT_TYPE_LENGTH: Final = 256
MAX_CONTEXTS: Final = 16  # contexts per request (one per context type)
MAX_ATTRIBUTES: Final = 256  # attributes (and private attribute names) per context
MAX_ATTRIBUTE_NAME_LENGTH: Final = 256
MAX_ATTRIBUTE_STRING_LENGTH: Final = 4096
MAX_DEFINITION_KEY_LENGTH: Final = 256  # flag and segment keys named by an SDK (valid keys are <= 128)
_FLOAT64_MAX: Final = 1.7976931348623157e308

ContextKey = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTEXT_KEY_LENGTH)]
ContextType = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTEXT_TYPE_LENGTH)]
DefinitionKey = Annotated[str, msgspec.Meta(max_length=MAX_DEFINITION_KEY_LENGTH)]
AttributeName = Annotated[str, msgspec.Meta(max_length=MAX_ATTRIBUTE_NAME_LENGTH)]
AttributeValue = (
    bool
    | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
    | Annotated[float, msgspec.Meta(ge=-_FLOAT64_MAX, le=_FLOAT64_MAX)]
    | Annotated[str, msgspec.Meta(max_length=MAX_ATTRIBUTE_STRING_LENGTH)]
)
Attributes = Annotated[dict[AttributeName, AttributeValue], msgspec.Meta(max_length=MAX_ATTRIBUTES)]
PrivateAttributes = Annotated[list[AttributeName], msgspec.Meta(max_length=MAX_ATTRIBUTES)]
