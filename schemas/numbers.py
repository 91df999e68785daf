"""Numeric bounds of everything ingested: what a 64-bit column (ClickHouse Int64/Float64, Postgres
bigint) can hold. Enforced by msgspec when a body or a JetStream message is decoded, so every route and
every consumer refuses the same values: an integer outside int64, NaN, +-inf (JSON has no literal for
the last two, but msgpack and Python callers do).
"""

from __future__ import annotations

import sys
from typing import Annotated, Final

import msgspec

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
FLOAT64_MAX: Final = sys.float_info.max

Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
# ge/le with the largest finite double refuse NaN (no comparison holds) and both infinities.
FiniteFloat64 = Annotated[float, msgspec.Meta(ge=-FLOAT64_MAX, le=FLOAT64_MAX)]
MetricValue = bool | Int64 | FiniteFloat64 | None
