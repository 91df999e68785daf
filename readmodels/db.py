"""Read-model database access: typed row fetches and read-your-writes waits on projection checkpoints."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

# A connection, or a pool to borrow one from; read-model queries accept either.
ReadDb = psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any]
RowT = TypeVar("RowT")

CHECKPOINT_CHANNEL = "stitchd_checkpoints"  # NOTIFY channel the projection runner signals on commit
CHECKPOINT_PREFIX = "proj:"  # checkpoints.name of a projection is CHECKPOINT_PREFIX + its NAME
_POLL_INTERVAL = 0.25  # fallback when a notification is missed (e.g. LISTEN raced the commit)


@asynccontextmanager
async def connection(db: ReadDb) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The connection itself, or one borrowed from the pool for the block."""
    if isinstance(db, AsyncConnectionPool):
        async with db.connection() as conn:
            yield conn
    else:
        yield db


async def fetch_all(db: ReadDb, query: str, params: Sequence[Any], row_type: type[RowT]) -> list[RowT]:
    """Rows of a query converted to `row_type` (a msgspec Struct whose fields are the column names)."""
    async with connection(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), params)
        rows = await cur.fetchall()
    return msgspec.convert(rows, list[row_type])  # type: ignore[valid-type]


async def fetch_one(db: ReadDb, query: str, params: Sequence[Any], row_type: type[RowT]) -> RowT | None:
    """The first row of a query as `row_type`, or None."""
    rows = await fetch_all(db, query, params, row_type)
    return rows[0] if rows else None


async def lowest_checkpoint(conn: psycopg.AsyncConnection[Any], names: Sequence[str] | None) -> int:
    """The lowest checkpoint among the named projections (all projections when None); 0 if one is missing."""
    if names is None:
        cur = await conn.execute(
            "SELECT coalesce(min(position), 0) FROM checkpoints WHERE name LIKE %s",
            (CHECKPOINT_PREFIX + "%",),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0
    keys = [CHECKPOINT_PREFIX + n for n in names]
    cur = await conn.execute("SELECT name, position FROM checkpoints WHERE name = ANY(%s)", (keys,))
    found = {name: int(pos) for name, pos in await cur.fetchall()}
    return min((found.get(k, 0) for k in keys), default=0)


async def wait_for_position(
    db: ReadDb | str,
    position: int,
    timeout: float,  # noqa: ASYNC109 -- a bound that answers False, not a cancellation
    *,
    names: Sequence[str] | None = None,
) -> bool:
    """Wait (bounded) until every projection's checkpoint is >= position; False on timeout.

    `names` are projection NAMEs (default: every projection with a checkpoint row). Wakes on the
    runner's NOTIFY and polls as a fallback, so a missed notification only costs a poll interval.
    """
    if isinstance(db, str):
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            return await _wait(conn, position, timeout, names)
    async with connection(db) as conn:
        was_autocommit = conn.autocommit
        if not was_autocommit:
            await conn.rollback()
            await conn.set_autocommit(True)
        try:
            return await _wait(conn, position, timeout, names)
        finally:
            if not was_autocommit:
                await conn.set_autocommit(False)


async def _wait(
    conn: psycopg.AsyncConnection[Any], position: int, bound: float, names: Sequence[str] | None
) -> bool:
    deadline = time.monotonic() + bound
    await conn.execute(f"LISTEN {CHECKPOINT_CHANNEL}")
    try:
        while True:
            if await lowest_checkpoint(conn, names) >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            async for _ in conn.notifies(timeout=min(remaining, _POLL_INTERVAL), stop_after=1):
                pass
    finally:
        await conn.execute(f"UNLISTEN {CHECKPOINT_CHANNEL}")
