"""Small helpers shared by the flag, segment, event-definition, experiment and history queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from psycopg.rows import dict_row

from readmodels.db import ReadDb, connection


async def dict_rows(db: ReadDb, query: str, params: Sequence[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a query as dicts keyed by column name."""
    async with connection(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), params)
        return await cur.fetchall()


async def tuple_rows(db: ReadDb, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a query as tuples, in the order of its columns."""
    async with connection(db) as conn, conn.cursor() as cur:
        await cur.execute(query.encode(), params)
        return await cur.fetchall()


def json_bytes(value: Any) -> bytes:
    """JSON bytes of a jsonb column selected as `::text` (or loaded as bytes, or parsed by psycopg)."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else msgspec.json.encode(value)
