"""Evaluation analytics over `rm_flag_usage` (hourly counts rolled up from ClickHouse by the stats worker)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from readmodels.db import ReadDb, fetch_all


class UsageRow(msgspec.Struct, frozen=True, kw_only=True):
    hour: datetime
    variant_key: str
    evaluations: int


class LastEvaluated(msgspec.Struct, frozen=True, kw_only=True):
    flag_key: str
    last_hour: datetime


async def usage_series(
    db: ReadDb, *, environment_id: UUID, flag_key: str, start: datetime, end: datetime
) -> list[UsageRow]:
    """Hourly evaluation counts of one flag per variant for hours in [start, end), oldest first."""
    sql = (
        "SELECT hour, variant_key, evaluations FROM rm_flag_usage"
        " WHERE environment_id = %s AND flag_key = %s AND hour >= date_trunc('hour', %s::timestamptz)"
        " AND hour < %s ORDER BY hour, variant_key"
    )
    return await fetch_all(db, sql, (environment_id, flag_key, start, end), UsageRow)


async def evaluated_since(db: ReadDb, *, environment_id: UUID, since: datetime) -> set[str]:
    """Keys of the environment's flags evaluated in any hour from `since`'s hour on."""
    sql = (
        "SELECT DISTINCT flag_key, max(hour) AS last_hour FROM rm_flag_usage"
        " WHERE environment_id = %s AND hour >= date_trunc('hour', %s::timestamptz) AND evaluations > 0"
        " GROUP BY flag_key"
    )
    return {r.flag_key for r in await fetch_all(db, sql, (environment_id, since), LastEvaluated)}
