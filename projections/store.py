"""The runner's SQL: reading the `events` table, projection checkpoints, and applying a range in order."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.codec import decode_event
from domain.envelope import HEAD_POSITION, READ_RANGE, RecordedEvent, recorded_from_row
from projections.recorded import Projection
from readmodels.db import CHECKPOINT_CHANNEL, CHECKPOINT_PREFIX


def checkpoint_name(projection: Projection) -> str:
    """The projection's row in `checkpoints`."""
    return CHECKPOINT_PREFIX + projection.NAME


async def read_range(
    conn: psycopg.AsyncConnection[Any], after: int, upto: int, limit: int
) -> list[RecordedEvent]:
    """Stored events with after < position <= upto, in position order, at most `limit`."""
    cur = await conn.execute(READ_RANGE, (after, upto, limit))
    return [recorded_from_row(row) for row in await cur.fetchall()]


async def head_position(conn: psycopg.AsyncConnection[Any]) -> int:
    """The last committed position in the store, 0 when empty."""
    cur = await conn.execute(HEAD_POSITION)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def ensure_checkpoint(conn: psycopg.AsyncConnection[Any], name: str) -> None:
    """Create the checkpoint row at 0 if it is missing (so it can be locked FOR UPDATE)."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO checkpoints (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING", (name,)
        )


async def lock_checkpoint(conn: psycopg.AsyncConnection[Any], name: str) -> int:
    """The checkpoint, row-locked until the transaction ends (serialises runner, replicas and rebuild)."""
    cur = await conn.execute("SELECT position FROM checkpoints WHERE name = %s FOR UPDATE", (name,))
    row = await cur.fetchone()
    if row is None:
        raise LookupError(f"checkpoint {name!r} is missing; call ensure_checkpoint first")
    return int(row[0])


async def save_checkpoint(conn: psycopg.AsyncConnection[Any], name: str, position: int) -> None:
    """Store the checkpoint and NOTIFY waiters; both take effect only when the transaction commits."""
    await conn.execute(
        "UPDATE checkpoints SET position = %s, updated_at = now() WHERE name = %s", (position, name)
    )
    await conn.execute("SELECT pg_notify(%s, %s)", (CHECKPOINT_CHANNEL, f"{name}:{position}"))


async def read_checkpoint(conn: psycopg.AsyncConnection[Any], name: str) -> int:
    """The checkpoint without locking it; 0 when the row is missing."""
    cur = await conn.execute("SELECT position FROM checkpoints WHERE name = %s", (name,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def apply_events(
    conn: psycopg.AsyncConnection[Any], projection: Projection, events: list[RecordedEvent]
) -> None:
    """Decode and apply each event in order inside the caller's transaction."""
    for recorded in events:
        await projection.apply(conn, decode_event(recorded.type, recorded.data), recorded)
