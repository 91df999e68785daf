"""Exact field types of HTTP bodies and query parameters, shared so the OpenAPI states what is enforced.

Integers are bounded to int64 (the store's bigint), versions and positions are non-negative, times are
RFC 3339 strings with an offset. Bodies are decoded strictly (`gateway/bodies.py`): `true`/`false` only
for booleans, no numbers for times, no strings for numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
Version = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=INT64_MAX,
        description="The optimistic-locking version read (required); a stale one answers 409 ABORTED.",
    ),
]
Position = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX, description="An event-store position.")]
WeightMilli = Annotated[int, msgspec.Meta(ge=0, le=1000, description="Weight in 0.1 % units.")]
Rfc3339 = Annotated[datetime, msgspec.Meta(tz=True, description="An RFC 3339 time with a UTC offset.")]

# domain.ids.KEY_PATTERN, anchored for JSON Schema: flag, segment, event, variant keys and rule ids.
KEY_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Key = Annotated[str, msgspec.Meta(pattern=KEY_REGEX, description="A key: letters, digits, `._:-`.")]
OptionalKey = Annotated[
    str, msgspec.Meta(pattern=rf"^$|{KEY_REGEX}", description="A key, or blank to have one generated.")
]
ValueTypeName = Literal[  # ours, or the seed's FlagValueType names
    "bool", "int", "double", "string", "json",
    "FLAG_VALUE_TYPE_BOOL", "FLAG_VALUE_TYPE_INT", "FLAG_VALUE_TYPE_DOUBLE", "FLAG_VALUE_TYPE_STRING",
    "FLAG_VALUE_TYPE_JSON",
]  # fmt: skip
