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
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from commands.db import open_pool, raw_jsonb
from commands.event_size import MAX_EVENT_BYTES, check_sizes
from commands.eventstore import (
    AppendResult,
    ConcurrencyError,
    Metadata,
    NewEvent,
    RecordedEvent,
    Usage,
    check_usage,
)
from domain.envelope import (
    APPEND_STATE,
    ENVIRONMENT_IS,
    HEAD_POSITION,
    INSERT_EVENT,
    SELECT_EVENTS,
    STORED_SIZES,
    STREAM_VERSION,
    UNIQUE_EVENT_ID,
    UNIQUE_STREAM_VERSION,
    recorded_from_row,
)

APPEND_LOCK_KEY = 0x57170E5  # transaction-level advisory lock serialising every append
NOTIFY_CHANNEL = "stitchd_events"

_INSERT_RESULT = (
    "INSERT INTO command_results (command_id, stream_id, first_position, last_position, version, response)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
# Quota counts (migration 0012): changed in the append's transaction, after the append lock is held.
_COUNT = (
    "INSERT INTO quota_usage (org_id, counted, used) VALUES (%(org)s, %(counted)s, greatest(%(delta)s, 0))"
    " ON CONFLICT (org_id, counted) DO UPDATE SET used = greatest(quota_usage.used + %(delta)s, 0)"
    " RETURNING used"
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
        body = msgspec.json.encode(response)
        meta = raw_jsonb(msgspec.json.encode(metadata))
        try:
            # Pipeline mode: BEGIN, the lock and the state query travel together, then the writes and
            # COMMIT; the lock is held for three round trips and one commit flush.
            async with self._local_lock, self.pool.connection() as conn, conn.pipeline(), conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
                cur = await conn.execute(APPEND_STATE, {"stream": stream_id, "command": command_id})
                state = _State.from_row(await _one(cur))
                if state.prior is not None:
                    return state.prior
                if state.version != expected_version:
                    raise ConcurrencyError(stream_id, expected_version, state.version)
                if events:
                    await _count(conn, usage)  # QuotaExceeded rolls the whole transaction back
                result = await _write(conn, stream_id, stream_type, state, events, meta, response)
                if events:  # measured as stored: jsonb's text is what the relay will publish
                    sizes = await _stored_sizes(conn, state.head)
                    check_sizes(stream_id, stream_type, metadata, events, sizes, self._max_event_bytes)
                if command_id is not None:
                    await conn.execute(_INSERT_RESULT, _result_row(command_id, result, body))
                return result
        except errors.UniqueViolation as exc:
            raise await self._unique_violation(exc, stream_id, expected_version) from exc

    async def _unique_violation(
        self, exc: errors.UniqueViolation, stream_id: UUID, expected: int
    ) -> Exception:
        if exc.diag.constraint_name == UNIQUE_EVENT_ID:
            return ValueError("duplicate event id")
        if exc.diag.constraint_name == UNIQUE_STREAM_VERSION:
            return ConcurrencyError(stream_id, expected, await self.stream_version(stream_id))
        return exc

    async def stream_version(self, stream_id: UUID) -> int:
        """The stream's current version, 0 when it has no events."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(STREAM_VERSION, (stream_id,))
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
            f"WHERE {ENVIRONMENT_IS} AND position > %s ORDER BY position LIMIT %s",
            (str(environment_id), after_position, limit),
        )

    async def head_position(self) -> int:
        """The last committed position, 0 when empty."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(HEAD_POSITION)
            (head,) = await _one(cur)
            return int(head)

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        async with self.pool.connection() as conn:
            return await select_events(conn, where, params)


async def select_events(
    conn: psycopg.AsyncConnection[Any], where: str, params: tuple[Any, ...]
) -> list[RecordedEvent]:
    """Rows of `events` matching a trusted SQL tail (`where`, appended to domain.envelope.SELECT_EVENTS)."""
    cur = await conn.execute(f"{SELECT_EVENTS} {where}".encode(), params)
    return [recorded_from_row(row) for row in await cur.fetchall()]


async def _count(conn: psycopg.AsyncConnection[Any], usage: Sequence[Usage]) -> None:
    for u in usage:
        cur = await conn.execute(_COUNT, {"org": u.org_id, "counted": u.counted.value, "delta": u.delta})
        (used,) = await _one(cur)
        check_usage(u, int(used))


async def _one(cur: psycopg.AsyncCursor[Any]) -> tuple[Any, ...]:
    row = await cur.fetchone()
    assert row is not None  # aggregate queries always return one row
    return tuple(row)


class _State(msgspec.Struct, frozen=True):
    version: int  # the stream's current version (0 when new)
    stream_last: int  # position of the stream's last event (0 when new)
    head: int  # the store's last position
    prior: AppendResult | None  # the first result of a repeated command

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> _State:
        version, stream_last, head, r_stream, r_first, r_last, r_version, r_response = row
        prior = None
        if r_stream is not None:
            decoded = None if r_response is None else msgspec.json.decode(r_response)
            prior = AppendResult(
                stream_id=r_stream,
                first_position=r_first,
                last_position=r_last,
                version=r_version,
                repeated=True,
                response=decoded,
            )
        return cls(version or 0, stream_last or 0, head, prior)


async def _write(
    conn: psycopg.AsyncConnection[Any],
    stream_id: UUID,
    stream_type: str,
    state: _State,
    events: Sequence[NewEvent],
    meta: Jsonb,
    response: Any,
) -> AppendResult:
    """Insert the events after the head and NOTIFY the last position (no-op for an empty list)."""
    rows = [
        (
            state.head + i,
            stream_id,
            stream_type,
            state.version + i,
            e.event_id,
            e.type,
            raw_jsonb(e.data),
            meta,
        )
        for i, e in enumerate(events, start=1)
    ]
    first = last = state.stream_last
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(INSERT_EVENT, rows)
        first, last = rows[0][0], rows[-1][0]
        await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(last)))
    return AppendResult(
        stream_id=stream_id,
        first_position=first,
        last_position=last,
        version=state.version + len(rows),
        response=response,
    )


async def _stored_sizes(conn: psycopg.AsyncConnection[Any], after: int) -> list[int]:
    """The jsonb text length of each event this transaction inserted after position `after`."""
    cur = await conn.execute(STORED_SIZES, (after,))
    return [int(size) for (size,) in await cur.fetchall()]


def _result_row(command_id: UUID, result: AppendResult, body: bytes) -> tuple[Any, ...]:
    return (command_id, result.stream_id, result.first_position, result.last_position, result.version,
            raw_jsonb(body))  # fmt: skip


async def open_postgres_store(url: str, *, min_size: int = 1, max_size: int = 10) -> PostgresEventStore:
    """A store with its own pool on `url`; close with `await store.aclose()`."""
    return PostgresEventStore(await open_pool(url, min_size=min_size, max_size=max_size), owns_pool=True)
