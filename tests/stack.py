"""An in-process Stitchd stack for integration tests: the Postgres event store, relay and projector.

Make the `stack` fixture (function scope) visible by importing it into your test directory's
conftest.py (pytest finds fixtures by name; importing it into the test module itself trips ruff F811):

    from tests.stack import stack  # noqa: F401

Then:

    @pytest.mark.integration
    async def test_created_project_is_listed(stack: Stack) -> None:
        result = await stack.store.append(...)          # or call a command handler with store=stack.store
        await stack.settle(result.last_position)       # every registered projection has applied it
        assert await list_projects(stack.pool, org_id)  # read models through a psycopg pool

It runs on the per-test `pg_url` database and `nats_url` server from tests/conftest.py, applies the
JetStream streams, and stops the relay and projector at the end (a crash in either fails the test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from commands.postgres_store import PostgresEventStore, open_postgres_store
from projections.registry import PROJECTIONS
from readmodels.db import wait_for_position
from stitchd.processes import Resources, running
from stitchd.settings import Settings
from stitchd.up import prepare

STACK_PROCESSES = ("relay", "projector")


@dataclass
class Stack:
    """Handles on a running stack."""

    store: PostgresEventStore
    pool: AsyncConnectionPool[Any]
    pg_url: str
    nats_url: str
    settings: Settings
    resources: Resources

    async def settle(self, position: int | None = None, within: float = 60.0) -> None:
        """Wait until every registered projection has applied `position` (default: the store's head)."""
        target = await self.store.head_position() if position is None else position
        names = [p.NAME for p in PROJECTIONS]
        if not await wait_for_position(self.pool, target, within, names=names):
            raise AssertionError(f"projections did not reach position {target} within {within}s")


@pytest.fixture
async def stack(pg_url: str, nats_url: str, tmp_path: Any) -> AsyncIterator[Stack]:
    """Relay and projector running against this test's database and nats-server."""
    settings = Settings(database_url=pg_url, nats_url=nats_url, data_dir=tmp_path / "stitchd")
    resources = Resources(pg_url, nats_url, f"chdb://{tmp_path / 'chdb'}")
    await prepare(resources)
    store = await open_postgres_store(pg_url)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    try:
        async with running(STACK_PROCESSES, settings, resources):
            yield Stack(store, pool, pg_url, nats_url, settings, resources)
    finally:
        await pool.close()
        await store.aclose()
