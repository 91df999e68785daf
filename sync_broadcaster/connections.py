"""What every SDK saw: the broadcaster records each sync stream (SDK key id, the instance id and SDK
version from metadata, the last sequence delivered and when) in Postgres, for
GET /v1/environments/{env}/sdk-connections.

Streams update memory only; a flush every `flush_every` seconds writes the streams that changed (one
upsert each) and every newly delivered sequence with its time (`sdk_stream_sequences`, for `?at=`).
Rows of streams closed more than RETENTION ago are pruned. A broadcaster that crashes leaves its streams
unclosed; readers call a stream whose last message is older than a minute lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("stitchd.broadcaster.connections")
INSTANCE_METADATA = "x-sdk-instance-id"
VERSION_METADATA = "x-sdk-version"
MAX_LABEL = 128
RETENTION = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)

_UPSERT = """
INSERT INTO sdk_streams (stream_id, environment_id, sdk_key_id, instance_id, sdk_version, broadcaster,
                         opened_at, closed_at, last_sequence, last_sent_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (stream_id) DO UPDATE SET closed_at = EXCLUDED.closed_at,
    last_sequence = EXCLUDED.last_sequence, last_sent_at = EXCLUDED.last_sent_at
"""
_SEQUENCE = (
    "INSERT INTO sdk_stream_sequences (stream_id, sequence, sent_at)"
    " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
)
_PRUNE = (
    "DELETE FROM sdk_stream_sequences s USING sdk_streams t"
    " WHERE s.stream_id = t.stream_id AND t.closed_at < %s",
    "DELETE FROM sdk_streams WHERE closed_at < %s",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def label(metadata: Mapping[str, Any] | None, name: str) -> str:
    """A client-chosen metadata value, kept printable and short (it is shown to operators)."""
    raw = metadata.get(name) if metadata is not None else None
    if not isinstance(raw, str):
        return ""
    return "".join(c for c in raw if c.isprintable())[:MAX_LABEL]


@dataclass
class StreamRecord:
    """One stream as last seen; `pending` holds sequences delivered since the last flush."""

    stream_id: UUID
    environment_id: UUID
    sdk_key_id: UUID | None
    instance_id: str
    sdk_version: str
    opened_at: datetime
    last_sequence: int = 0
    last_sent_at: datetime | None = None
    closed_at: datetime | None = None
    pending: list[tuple[int, datetime]] = field(default_factory=list)


class ConnectionRecorder:
    """Records streams in memory and flushes them to Postgres; `run` beside the server until cancelled."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        broadcaster: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        flush_every: float = 1.0,
    ) -> None:
        self._pool = pool
        self.broadcaster = broadcaster[:MAX_LABEL]
        self._clock = clock
        self._flush_every = flush_every
        self._dirty: dict[UUID, StreamRecord] = {}
        self._pruned_at: datetime | None = None

    def opened(
        self, environment_id: UUID, sdk_key_id: UUID | None, metadata: Mapping[str, Any] | None
    ) -> StreamRecord:
        record = StreamRecord(
            stream_id=uuid.uuid4(),
            environment_id=environment_id,
            sdk_key_id=sdk_key_id,
            instance_id=label(metadata, INSTANCE_METADATA),
            sdk_version=label(metadata, VERSION_METADATA),
            opened_at=self._clock(),
        )
        self._dirty[record.stream_id] = record
        return record

    def delivered(self, record: StreamRecord, sequence: int) -> None:
        """A message went out with the stream at `sequence` (a heartbeat repeats the last one)."""
        now = self._clock()
        if sequence != record.last_sequence or record.last_sent_at is None:
            record.pending.append((sequence, now))
        record.last_sequence, record.last_sent_at = sequence, now
        self._dirty[record.stream_id] = record

    def closed(self, record: StreamRecord) -> None:
        record.closed_at = self._clock()
        self._dirty[record.stream_id] = record

    async def flush(self) -> int:
        """Write every changed stream; returns how many. On failure they stay queued for the next flush."""
        batch, self._dirty = list(self._dirty.values()), {}
        if not batch:
            return 0
        taken = [(r, r.pending) for r in batch]
        for record in batch:
            record.pending = []
        try:
            await self._write(batch, [(r.stream_id, seq, at) for r, pending in taken for seq, at in pending])
        except BaseException:
            for record, pending in taken:
                record.pending = pending + record.pending
                self._dirty.setdefault(record.stream_id, record)
            raise
        return len(batch)

    async def _write(self, batch: list[StreamRecord], sequences: list[tuple[UUID, int, datetime]]) -> None:
        rows = [self._row(r) for r in batch]
        async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(_UPSERT, rows)
            if sequences:
                await cur.executemany(_SEQUENCE, sequences)

    def _row(self, r: StreamRecord) -> tuple[Any, ...]:
        return (r.stream_id, r.environment_id, r.sdk_key_id, r.instance_id, r.sdk_version, self.broadcaster,
                r.opened_at, r.closed_at, r.last_sequence, r.last_sent_at)  # fmt: skip

    async def prune(self) -> None:
        cutoff = self._clock() - RETENTION
        async with self._pool.connection() as conn:
            for sql in _PRUNE:
                await conn.execute(sql, (cutoff,))
        self._pruned_at = self._clock()

    async def run(self) -> None:
        """Flush every `flush_every` seconds and prune hourly, until cancelled; a last flush runs at exit."""
        try:
            while True:
                await asyncio.sleep(self._flush_every)
                await self._safely(self.flush)
                if self._pruned_at is None or self._clock() - self._pruned_at > PRUNE_EVERY:
                    await self._safely(self.prune)
        finally:
            await asyncio.shield(self._safely(self.flush))

    async def _safely(self, step: Callable[[], Any]) -> None:
        try:
            await step()
        except (psycopg.Error, OSError) as exc:
            log.warning("recording SDK connections failed (%s); retrying", exc)
