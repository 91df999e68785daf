"""The broadcasters' record of SDK sync streams (`sdk_streams`, `sdk_stream_sequences`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from domain.envelope import RECORDED_AT_OF
from readmodels.db import ReadDb, fetch_all

MAX_STREAMS = 1000


class StreamRow(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: UUID
    sdk_key_id: UUID | None
    instance_id: str
    sdk_version: str
    broadcaster: str
    opened_at: datetime
    closed_at: datetime | None
    last_sent_at: datetime | None
    served: int | None  # the sequence it had delivered (at the time asked about)


class PositionTime(msgspec.Struct, frozen=True):
    position: int
    recorded_at: datetime


_NOW = """
SELECT stream_id, sdk_key_id, instance_id, sdk_version, broadcaster, opened_at, closed_at, last_sent_at,
       last_sequence AS served
FROM sdk_streams WHERE environment_id = %s AND (closed_at IS NULL OR closed_at >= %s)
ORDER BY opened_at DESC LIMIT %s
"""
_AT = """
SELECT t.stream_id, t.sdk_key_id, t.instance_id, t.sdk_version, t.broadcaster, t.opened_at, t.closed_at,
       t.last_sent_at,
       (SELECT s.sequence FROM sdk_stream_sequences s WHERE s.stream_id = t.stream_id AND s.sent_at <= %s
        ORDER BY s.sent_at DESC, s.sequence DESC LIMIT 1) AS served
FROM sdk_streams t
WHERE t.environment_id = %s AND t.opened_at <= %s AND (t.closed_at IS NULL OR t.closed_at > %s)
ORDER BY t.opened_at DESC LIMIT %s
"""


async def streams_now(db: ReadDb, environment_id: UUID, *, closed_since: datetime) -> list[StreamRow]:
    """Open streams and those closed since `closed_since`, newest first (at most MAX_STREAMS)."""
    return await fetch_all(db, _NOW, (environment_id, closed_since, MAX_STREAMS), StreamRow)


async def streams_at(db: ReadDb, environment_id: UUID, at: datetime) -> list[StreamRow]:
    """Streams open at `at`, each with the last sequence it had delivered by then."""
    return await fetch_all(db, _AT, (at, environment_id, at, at, MAX_STREAMS), StreamRow)


async def recorded_at(db: ReadDb, positions: Sequence[int]) -> dict[int, datetime]:
    """When each event-store position was committed."""
    if not positions:
        return {}
    rows = await fetch_all(db, RECORDED_AT_OF, (list(positions),), PositionTime)
    return {r.position: r.recorded_at for r in rows}
