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

from commands.db import open_pool
from commands.event_size import MAX_EVENT_BYTES
from commands.eventstore import (
    AppendResult,
    ChangesetResult,
    ConcurrencyError,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    Usage,
    stamped,
)
from commands.postgres_append import (
    INSERT_RESULT,
    check_versions,
    count_usage,
    one,
    prior_result,
    result_row,
    stream_heads,
    write_all,
)
from commands.postgres_append import NOTIFY_CHANNEL as NOTIFY_CHANNEL  # re-exported: the relay LISTENs on it

APPEND_LOCK_KEY = 0x57170E5  # transaction-level advisory lock serialising every append

_COLUMNS = "position, stream_id, stream_type, version, event_id, type, data, metadata, recorded_at"
_METADATA = msgspec.json.Decoder(Metadata)


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
        return await self._append(
            stamped(appends, command_id), command_id=command_id, usage=usage, response=b"null"
        )

    async def _append(
        self, appends: Sequence[StreamAppend], *, command_id: UUID | None, usage: Sequence[Usage],
        response: bytes,
    ) -> ChangesetResult:  # fmt: skip
        try:
            # Pipeline mode: BEGIN, the lock and the state query travel together, then the writes and
            # COMMIT; the lock is held for a few round trips and one commit flush.
            async with self._local_lock, self.pool.connection() as conn, conn.pipeline(), conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
                prior = await prior_result(conn, command_id)
                if prior is not None:
                    return prior
                heads = await stream_heads(conn, [a.stream_id for a in appends])
                check_versions(appends, heads)
                if any(a.events for a in appends):
                    await count_usage(conn, usage)  # QuotaExceeded rolls the whole transaction back
                results = await write_all(conn, appends, heads, self._max_event_bytes)
                if command_id is not None and results:
                    await conn.execute(INSERT_RESULT, result_row(command_id, results, response))
                return ChangesetResult(command_id=command_id, streams=tuple(results))
        except errors.UniqueViolation as exc:
            raise await self._unique_violation(exc, appends) from exc

    async def recorded(self, command_id: UUID) -> ChangesetResult | None:
        """The result of the first append under `command_id`, or None."""
        async with self.pool.connection() as conn:
            return await prior_result(conn, command_id)

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
            (version,) = await one(cur)
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
            (head,) = await one(cur)
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


async def open_postgres_store(url: str, *, min_size: int = 1, max_size: int = 10) -> PostgresEventStore:
    """A store with its own pool on `url`; close with `await store.aclose()`."""
    return PostgresEventStore(await open_pool(url, min_size=min_size, max_size=max_size), owns_pool=True)
