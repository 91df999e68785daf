"""The writing half of the PostgreSQL store's atomic append (commands.postgres_store): the statements run
inside the append's transaction, after its advisory lock is held."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
import psycopg

from commands.db import raw_jsonb
from commands.event_size import check_sizes
from commands.eventstore import (
    AppendResult,
    ChangesetResult,
    ConcurrencyError,
    StreamAppend,
    Usage,
    check_usage,
)

NOTIFY_CHANNEL = "stitchd_events"
_INSERT_EVENT = (
    "INSERT INTO events (position, stream_id, stream_type, version, event_id, type, data, metadata)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_RESULT = (
    "INSERT INTO command_results"
    " (command_id, stream_id, first_position, last_position, version, response, streams)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
# Quota counts (migration 0012): changed in the append's transaction, after the append lock is held.
_COUNT = (
    "INSERT INTO quota_usage (org_id, counted, used) VALUES (%(org)s, %(counted)s, greatest(%(delta)s, 0))"
    " ON CONFLICT (org_id, counted) DO UPDATE SET used = greatest(quota_usage.used + %(delta)s, 0)"
    " RETURNING used"
)
_HEADS = (
    "SELECT DISTINCT ON (stream_id) stream_id, version, position FROM events"
    " WHERE stream_id = ANY(%s) ORDER BY stream_id, version DESC"
)
_PRIOR = (
    "SELECT stream_id, first_position, last_position, version, response, streams"
    " FROM command_results WHERE command_id = %s"
)


async def count_usage(conn: psycopg.AsyncConnection[Any], usage: Sequence[Usage]) -> None:
    for u in usage:
        cur = await conn.execute(_COUNT, {"org": u.org_id, "counted": u.counted.value, "delta": u.delta})
        (used,) = await one(cur)
        check_usage(u, int(used))


async def one(cur: psycopg.AsyncCursor[Any]) -> tuple[Any, ...]:
    row = await cur.fetchone()
    assert row is not None  # aggregate queries always return one row
    return tuple(row)


class _Head(msgspec.Struct, frozen=True):
    version: int  # the stream's current version (0 when new)
    last: int  # position of the stream's last event (0 when new)


async def stream_heads(conn: psycopg.AsyncConnection[Any], stream_ids: list[UUID]) -> dict[UUID, _Head]:
    cur = await conn.execute(_HEADS, (stream_ids,))
    return {sid: _Head(version, position) for sid, version, position in await cur.fetchall()}


def check_versions(appends: Sequence[StreamAppend], heads: dict[UUID, _Head]) -> None:
    """ConcurrencyError for the first stream not at its expected version."""
    for a in appends:
        actual = heads[a.stream_id].version if a.stream_id in heads else 0
        if actual != a.expected_version:
            raise ConcurrencyError(a.stream_id, a.expected_version, actual)


async def prior_result(conn: psycopg.AsyncConnection[Any], command_id: UUID | None) -> ChangesetResult | None:
    """The first result of a repeated command id (None when new or when there is none)."""
    if command_id is None:
        return None
    cur = await conn.execute(_PRIOR, (command_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    stream_id, first, last, version, response, streams = row
    decoded = None if response is None else msgspec.json.decode(response)
    parts = [(stream_id, first, last, version, 1)] if streams is None else msgspec.json.decode(streams)
    results = tuple(
        AppendResult(stream_id=UUID(str(s)), first_position=f, last_position=la, version=v,
                     repeated=True, response=decoded, appended=n)
        for s, f, la, v, n in parts
    )  # fmt: skip
    return ChangesetResult(command_id=command_id, streams=results, repeated=True)


async def write_all(
    conn: psycopg.AsyncConnection[Any], appends: Sequence[StreamAppend], heads: dict[UUID, _Head],
    max_event_bytes: int,
) -> list[AppendResult]:  # fmt: skip
    """Insert each stream's events after the store's head, in the order given; NOTIFY the last one."""
    cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
    (start,) = await one(cur)
    position, results = int(start), []
    for a in appends:
        head = heads.get(a.stream_id, _Head(0, 0))
        results.append(await _write(conn, a, head, position))
        position += len(a.events)
    if position > start:  # measured as stored: jsonb's text is what the relay will publish
        sizes = iter(await _stored_sizes(conn, int(start)))
        for a in appends:
            taken = [next(sizes) for _ in a.events]
            check_sizes(a.stream_id, a.stream_type, a.metadata, a.events, taken, max_event_bytes)
        await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(position)))
    return results


async def _write(
    conn: psycopg.AsyncConnection[Any], a: StreamAppend, head: _Head, after: int
) -> AppendResult:
    """Insert one stream's events from position `after + 1` (no-op for an empty list)."""
    meta = raw_jsonb(msgspec.json.encode(a.metadata))
    rows = [
        (after + i, a.stream_id, a.stream_type, head.version + i, e.event_id, e.type, raw_jsonb(e.data), meta)
        for i, e in enumerate(a.events, start=1)
    ]
    first = last = head.last
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(_INSERT_EVENT, rows)
        first, last = rows[0][0], rows[-1][0]
    return AppendResult(stream_id=a.stream_id, first_position=first, last_position=last,
                        version=head.version + len(rows), appended=len(rows))  # fmt: skip


async def _stored_sizes(conn: psycopg.AsyncConnection[Any], after: int) -> list[int]:
    """The jsonb text length of each event this transaction inserted after position `after`."""
    cur = await conn.execute(
        "SELECT octet_length(data::text) FROM events WHERE position > %s ORDER BY position", (after,)
    )
    return [int(size) for (size,) in await cur.fetchall()]


def result_row(command_id: UUID, results: Sequence[AppendResult], response: bytes) -> tuple[Any, ...]:
    one = results[0]
    streams = [[str(r.stream_id), r.first_position, r.last_position, r.version, r.appended] for r in results]
    return (command_id, one.stream_id, one.first_position, one.last_position, one.version,
            raw_jsonb(response), raw_jsonb(msgspec.json.encode(streams)))  # fmt: skip
