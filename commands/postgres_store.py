"""The PostgreSQL EventStore (psycopg 3 async, one connection pool).

Why appends are serialised: a tailing reader (the outbox relay, `read_all`) asks for "position > cursor".
If two transactions could take positions 7 and 8 and 8 committed first, a reader could see 8, move its
cursor past 7 and never see 7. So every append takes one transaction-level advisory lock
(`pg_advisory_xact_lock(APPEND_LOCK_KEY)`) before reading `max(position)`; the next appender gets the
lock only after this transaction has committed (PostgreSQL releases locks after the commit is visible),
and under READ COMMITTED its next statement's snapshot sees that commit. Hence positions are strictly
increasing in commit order and no reader ever sees a gap fill in later. Admin writes are rare, so the
global serialisation costs little (see `just bench`). The same transaction checks the command id
(idempotency), checks the stream version (UNIQUE(stream_id, version) is the backstop), inserts the
events and the command result, and NOTIFYs `stitchd_events` with the last position (delivered on commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from commands.db import open_pool, raw_jsonb
from commands.event_size import MAX_EVENT_BYTES, check_sizes
from commands.eventstore import (
    AppendResult,
    ChangesetResult,
    ConcurrencyError,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    Usage,
    check_usage,
    duplicate_streams,
)

APPEND_LOCK_KEY = 0x57170E5  # transaction-level advisory lock serialising every append
NOTIFY_CHANNEL = "stitchd_events"

_COLUMNS = "position, stream_id, stream_type, version, event_id, type, data, metadata, recorded_at"
_METADATA = msgspec.json.Decoder(Metadata)
_INSERT_EVENT = (
    "INSERT INTO events (position, stream_id, stream_type, version, event_id, type, data, metadata)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_RESULT = (
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


def _recorded(row: tuple[Any, ...]) -> RecordedEvent:
    position, stream_id, stream_type, version, event_id, type_, data, metadata, recorded_at = row
    return RecordedEvent(
        position=position,
        stream_id=stream_id,
        stream_type=stream_type,
        version=version,
        event_id=event_id,
        type=type_,
        data=data,
        metadata=_METADATA.decode(metadata),
        recorded_at=recorded_at,
    )


class PostgresEventStore:
    """EventStore over the `events` and `command_results` tables (migration 0001)."""

    def __init__(
        self, pool: AsyncConnectionPool, *, owns_pool: bool = False, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> None:
        """Use `pool` (its connections need commands.db.configure_connection); close it on aclose if owned.

        `max_event_bytes` caps each event's published envelope (commands.event_size)."""
        self.pool = pool
        self._max_event_bytes = max_event_bytes
        self._owns_pool = owns_pool
        # Appends are serialised anyway (the advisory lock); queueing them here first keeps waiters from
        # holding pool connections and from piling onto PostgreSQL's lock manager.
        self._local_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the pool if this store opened it."""
        if self._owns_pool:
            await self.pool.close()

    async def append(
        self,
        stream_id: UUID,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        metadata: Metadata,
        command_id: UUID | None = None,
        response: Any = None,
        usage: Sequence[Usage] = (),
    ) -> AppendResult:
        """Append at `expected_version` (0 = new stream) or raise ConcurrencyError; see EventStore."""
        part = StreamAppend(stream_id=stream_id, stream_type=stream_type, expected_version=expected_version,
                            events=tuple(events), metadata=metadata)  # fmt: skip
        result = await self._append(
            [part], command_id=command_id, usage=usage, response=msgspec.json.encode(response)
        )
        first = result.streams[0]
        return first if result.repeated else msgspec.structs.replace(first, response=response)

    async def append_many(
        self, appends: Sequence[StreamAppend], *, command_id: UUID | None, usage: Sequence[Usage] = ()
    ) -> ChangesetResult:
        """Every stream in one transaction at its expected version, or nothing; see EventStore."""
        duplicate_streams(appends)
        return await self._append(appends, command_id=command_id, usage=usage, response=b"null")

    async def _append(
        self, appends: Sequence[StreamAppend], *, command_id: UUID | None, usage: Sequence[Usage],
        response: bytes,
    ) -> ChangesetResult:  # fmt: skip
        try:
            # Pipeline mode: BEGIN, the lock and the state query travel together, then the writes and
            # COMMIT; the lock is held for a few round trips and one commit flush.
            async with self._local_lock, self.pool.connection() as conn, conn.pipeline(), conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
                prior = await _prior(conn, command_id)
                if prior is not None:
                    return prior
                heads = await _heads(conn, [a.stream_id for a in appends])
                check_versions(appends, heads)
                if any(a.events for a in appends):
                    await _count(conn, usage)  # QuotaExceeded rolls the whole transaction back
                results = await _write_all(conn, appends, heads, self._max_event_bytes)
                if command_id is not None and results:
                    await conn.execute(_INSERT_RESULT, _result_row(command_id, results, response))
                return ChangesetResult(command_id=command_id, streams=tuple(results))
        except errors.UniqueViolation as exc:
            raise await self._unique_violation(exc, appends) from exc

    async def recorded(self, command_id: UUID) -> ChangesetResult | None:
        """The result of the first append under `command_id`, or None."""
        async with self.pool.connection() as conn:
            return await _prior(conn, command_id)

    async def load_command(self, command_id: UUID) -> list[RecordedEvent]:
        """Every event appended under `command_id`, in position order (migration 0016's index)."""
        return await self._select("WHERE metadata->>'command_id' = %s ORDER BY position", (str(command_id),))

    async def _unique_violation(
        self, exc: errors.UniqueViolation, appends: Sequence[StreamAppend]
    ) -> Exception:
        if exc.diag.constraint_name == "events_event_id_key":
            return ValueError("duplicate event id")
        if exc.diag.constraint_name == "events_stream_id_version_key":
            for a in appends:
                actual = await self.stream_version(a.stream_id)
                if actual != a.expected_version:
                    return ConcurrencyError(a.stream_id, a.expected_version, actual)
        return exc

    async def stream_version(self, stream_id: UUID) -> int:
        """The stream's current version, 0 when it has no events."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s", (stream_id,)
            )
            (version,) = await _one(cur)
            return int(version)

    async def load(self, stream_id: UUID, *, up_to_position: int | None = None) -> list[RecordedEvent]:
        """A stream's events in version order, optionally only those at or before a global position."""
        return await self._select(
            "WHERE stream_id = %s AND (%s::bigint IS NULL OR position <= %s) ORDER BY version",
            (stream_id, up_to_position, up_to_position),
        )

    async def read_all(self, after_position: int, limit: int = 1000) -> list[RecordedEvent]:
        """Events with position > after_position, in position order."""
        return await self._select("WHERE position > %s ORDER BY position LIMIT %s", (after_position, limit))

    async def read_environment(
        self, environment_id: UUID, after_position: int = 0, limit: int = 1000
    ) -> list[RecordedEvent]:
        """Events whose metadata environment_id matches, position > after_position, in position order."""
        return await self._select(
            "WHERE metadata->>'environment_id' = %s AND position > %s ORDER BY position LIMIT %s",
            (str(environment_id), after_position, limit),
        )

    async def head_position(self) -> int:
        """The last committed position, 0 when empty."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
            (head,) = await _one(cur)
            return int(head)

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        async with self.pool.connection() as conn:
            return await select_events(conn, where, params)


async def select_events(
    conn: psycopg.AsyncConnection[Any], where: str, params: tuple[Any, ...]
) -> list[RecordedEvent]:
    """Rows of `events` matching a trusted SQL tail (`where`); `conn` needs configure_connection."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM events {where}".encode(), params)
    return [_recorded(row) for row in await cur.fetchall()]


async def _count(conn: psycopg.AsyncConnection[Any], usage: Sequence[Usage]) -> None:
    for u in usage:
        cur = await conn.execute(_COUNT, {"org": u.org_id, "counted": u.counted.value, "delta": u.delta})
        (used,) = await _one(cur)
        check_usage(u, int(used))


async def _one(cur: psycopg.AsyncCursor[Any]) -> tuple[Any, ...]:
    row = await cur.fetchone()
    assert row is not None  # aggregate queries always return one row
    return tuple(row)


class _Head(msgspec.Struct, frozen=True):
    version: int  # the stream's current version (0 when new)
    last: int  # position of the stream's last event (0 when new)


async def _heads(conn: psycopg.AsyncConnection[Any], stream_ids: list[UUID]) -> dict[UUID, _Head]:
    cur = await conn.execute(_HEADS, (stream_ids,))
    return {sid: _Head(version, position) for sid, version, position in await cur.fetchall()}


def check_versions(appends: Sequence[StreamAppend], heads: dict[UUID, _Head]) -> None:
    """ConcurrencyError for the first stream not at its expected version."""
    for a in appends:
        actual = heads[a.stream_id].version if a.stream_id in heads else 0
        if actual != a.expected_version:
            raise ConcurrencyError(a.stream_id, a.expected_version, actual)


async def _prior(conn: psycopg.AsyncConnection[Any], command_id: UUID | None) -> ChangesetResult | None:
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


async def _write_all(
    conn: psycopg.AsyncConnection[Any], appends: Sequence[StreamAppend], heads: dict[UUID, _Head],
    max_event_bytes: int,
) -> list[AppendResult]:  # fmt: skip
    """Insert each stream's events after the store's head, in the order given; NOTIFY the last one."""
    cur = await conn.execute("SELECT coalesce(max(position), 0) FROM events")
    (start,) = await _one(cur)
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


def _result_row(command_id: UUID, results: Sequence[AppendResult], response: bytes) -> tuple[Any, ...]:
    one = results[0]
    streams = [[str(r.stream_id), r.first_position, r.last_position, r.version, r.appended] for r in results]
    return (command_id, one.stream_id, one.first_position, one.last_position, one.version,
            raw_jsonb(response), raw_jsonb(msgspec.json.encode(streams)))  # fmt: skip


async def open_postgres_store(url: str, *, min_size: int = 1, max_size: int = 10) -> PostgresEventStore:
    """A store with its own pool on `url`; close with `await store.aclose()`."""
    return PostgresEventStore(await open_pool(url, min_size=min_size, max_size=max_size), owns_pool=True)
