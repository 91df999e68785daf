"""Module-scoped twins of `stack` and `api`: one database, nats-server, stack and gateway per test module.

For modules whose tests share one expensive setup (the isolation matrix, the input fuzzers). Use:

    from tests.integration.gateway.module_stack import module_api_fixture, module_stack_fixture  # noqa: F401
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from commands.postgres_store import open_postgres_store
from gateway.app import create_app
from gateway.exposures import JetStreamIngest
from stitchd.embedded import start_nats
from stitchd.processes import Resources, running
from stitchd.settings import Settings
from stitchd.up import prepare
from tests.conftest import TEMPLATE_DB
from tests.integration.gateway.support import Api, Clock, gateway_deps, http_client
from tests.stack import STACK_PROCESSES, Stack


@contextmanager
def _database(pg_server_url: str) -> Iterator[str]:
    """A fresh, migrated database (a copy of the session's template)."""
    name = f"m_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
            )
        )
    try:
        yield psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(name="module_stack", scope="module")
async def module_stack_fixture(pg_server_url: str) -> AsyncIterator[Stack]:
    """Its own database and nats-server, relay and projector running, for the whole module.

    Temp files live outside pytest's rotating basetemp: a parallel pytest session must not delete them.
    """
    tmp = Path(tempfile.mkdtemp(prefix="stitchd-module-"))
    nats = start_nats(tmp / "nats")
    try:
        with _database(pg_server_url) as pg_url:
            settings = Settings(database_url=pg_url, nats_url=nats.url, data_dir=tmp / "stitchd")
            resources = Resources(pg_url, nats.url, f"chdb://{tmp / 'chdb'}")
            await prepare(resources)
            store = await open_postgres_store(pg_url)
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                pg_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
            )
            await pool.open(wait=True)
            try:
                async with running(STACK_PROCESSES, settings, resources):
                    yield Stack(store, pool, pg_url, nats.url, settings, resources)
            finally:
                await pool.close()
                await store.aclose()
    finally:
        nats.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(name="module_api", scope="module")
async def module_api_fixture(module_stack: Stack) -> AsyncIterator[Api]:
    """The gateway app (ingestion wired to JetStream) over the module's stack, driven through HTTP."""
    clock = Clock()
    nc = await nats.connect(module_stack.nats_url)
    deps = dataclasses.replace(gateway_deps(module_stack, clock), ingest=JetStreamIngest(nc.jetstream()))
    try:
        async with http_client(create_app(deps)) as client:
            await module_stack.settle()
            yield Api(client=client, deps=deps, clock=clock)
    finally:
        await nc.close()
