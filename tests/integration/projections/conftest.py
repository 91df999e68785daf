"""Fixtures for runner tests: a store on the test database with the relay publishing to JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commands.postgres_store import PostgresEventStore, open_postgres_store
from stitchd.processes import Resources, running
from stitchd.settings import Settings
from stitchd.up import prepare
from tests.stack import stack  # noqa: F401  (the fixture, for test_directory.py)


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresEventStore]:
    s = await open_postgres_store(pg_url)
    yield s
    await s.aclose()


@pytest.fixture
async def relay(pg_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[None]:
    """The outbox relay running (streams applied) for the test."""
    resources = Resources(pg_url, nats_url, f"chdb://{tmp_path / 'chdb'}")
    await prepare(resources)
    async with running(["relay"], Settings(database_url=pg_url, nats_url=nats_url), resources):
        yield


async def snapshot(url: str, tables: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each table, ordered by all columns."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for table in tables:
            cur = await conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3".encode())
            out[table] = await cur.fetchall()
    return out


async def checkpoint(url: str, name: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT position FROM checkpoints WHERE name = %s", (f"proj:{name}",))
        row = await cur.fetchone()
    return int(row[0]) if row else 0
