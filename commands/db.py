"""psycopg pool helpers for the event store: jsonb read as raw bytes, written from raw bytes."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool


class JsonbBytesLoader(Loader):
    """Load jsonb (text format) as the JSON bytes themselves, so msgspec decodes without a str detour."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def raw_jsonb(data: bytes) -> Jsonb:
    """A jsonb parameter from already-encoded JSON bytes."""
    return Jsonb(data, dumps=_identity)


def _identity(data: Any) -> Any:
    return data


async def configure_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """Per-connection setup for every pooled connection."""
    conn.adapters.register_loader("jsonb", JsonbBytesLoader)


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    """An opened autocommit pool; close it with `await pool.close()`."""
    pool: AsyncConnectionPool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        configure=configure_connection,
        open=False,
    )
    await pool.open(wait=True)
    return pool
