"""HTTP shapes of evaluation analytics (GET .../flags/{key}/usage)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class UsagePoint(msgspec.Struct, frozen=True, kw_only=True):
    """Evaluations of one variant in one hour (`hour` is the hour's start, UTC)."""

    hour: datetime
    variant_key: str
    evaluations: int


class FlagUsageView(msgspec.Struct, frozen=True, kw_only=True):
    flag_key: str
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")
    total: int
    series: list[UsagePoint]
