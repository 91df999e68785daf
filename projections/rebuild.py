"""Rebuild a projection from the Postgres `events` table into fresh tables, then swap them in atomically.

The fresh tables live in a schema of their own (`rebuild_<NAME>`), created `LIKE` the live ones
`INCLUDING ALL`, and the replay connection puts that schema first on its `search_path`: a projection's
plain SQL (`INSERT INTO rm_orgs ...`) therefore writes the fresh tables with no placeholders. The swap
locks the live checkpoint (pausing the live runner), applies events committed during the replay,
replaces the live tables' rows with the fresh ones (TRUNCATE + INSERT SELECT, so the live tables keep
their indexes, constraint names, grants and dependent views) and sets the checkpoint, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from domain.envelope import COUNT_UP_TO
from projections.recorded import Projection
from projections.store import (
    apply_events,
    checkpoint_name,
    ensure_checkpoint,
    head_position,
    lock_checkpoint,
    read_range,
    save_checkpoint,
)

Progress = Callable[[int, int], None]  # (events applied so far, events to apply)
_END = 2**63 - 1


def rebuild_schema(projection: Projection) -> str:
    """The scratch schema a rebuild of `projection` writes into."""
    return f"rebuild_{projection.NAME}"


async def rebuild(
    database_url: str, projection: Projection, *, progress: Progress | None = None, chunk: int = 1000
) -> int:
    """Replay every stored event into fresh tables and swap them in; return the checkpoint set."""
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, prepare_threshold=None
    ) as conn:
        live = await _current_schema(conn)
        scratch = rebuild_schema(projection)
        await _create_scratch(conn, projection, live, scratch)
        try:
            await conn.execute(sql.SQL("SET search_path TO {}, {}").format(_ident(scratch), _ident(live)))
            last = await _replay(conn, projection, progress, chunk)
            return await _swap(conn, projection, live, scratch, last, chunk)
        finally:
            await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_ident(scratch)))


async def _current_schema(conn: psycopg.AsyncConnection[Any]) -> str:
    cur = await conn.execute("SELECT current_schema()")
    row = await cur.fetchone()
    if row is None or row[0] is None:
        raise LookupError("the connection has no current schema")
    return str(row[0])


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


async def _create_scratch(
    conn: psycopg.AsyncConnection[Any], projection: Projection, live: str, scratch: str
) -> None:
    async with conn.transaction():
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_ident(scratch)))
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(_ident(scratch)))
        for table in projection.TABLES:
            await conn.execute(
                sql.SQL("CREATE TABLE {}.{} (LIKE {}.{} INCLUDING ALL)").format(
                    _ident(scratch), _ident(table), _ident(live), _ident(table)
                )
            )


async def _replay(
    conn: psycopg.AsyncConnection[Any], projection: Projection, progress: Progress | None, chunk: int
) -> int:
    """Apply every event up to the head seen now, one transaction per chunk; return the last position."""
    head = await head_position(conn)
    cur = await conn.execute(COUNT_UP_TO, (head,))
    row = await cur.fetchone()
    total, done, last = int(row[0]) if row else 0, 0, 0
    if progress is not None:
        progress(0, total)
    while True:
        async with conn.transaction():
            events = await read_range(conn, last, head, chunk)
            await apply_events(conn, projection, events)
        if not events:
            return last
        last, done = events[-1].position, done + len(events)
        if progress is not None:
            progress(done, total)


async def _swap(
    conn: psycopg.AsyncConnection[Any], projection: Projection, live: str, scratch: str, last: int, chunk: int
) -> int:
    """Catch up the tail and replace the live tables, all under the live checkpoint's row lock."""
    name = checkpoint_name(projection)
    await ensure_checkpoint(conn, name)
    async with conn.transaction():
        await lock_checkpoint(conn, name)
        while events := await read_range(conn, last, _END, chunk):
            await apply_events(conn, projection, events)
            last = events[-1].position
        for table in projection.TABLES:
            await _copy_back(conn, table, live, scratch)
        await save_checkpoint(conn, name, last)
    return last


async def _copy_back(conn: psycopg.AsyncConnection[Any], table: str, live: str, scratch: str) -> None:
    """Replace the live table's rows with the scratch table's (keeps its indexes, grants and names)."""
    cur = await conn.execute(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s"
        " AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        (live, table),
    )
    columns = sql.SQL(", ").join(_ident(row[0]) for row in await cur.fetchall())
    target, source = sql.Identifier(live, table), sql.Identifier(scratch, table)
    await conn.execute(sql.SQL("TRUNCATE {}").format(target))
    await conn.execute(
        sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}").format(
            target, columns, columns, source
        )
    )
