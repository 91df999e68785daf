"""Real services for integration tests: PostgreSQL (pgserver), nats-server with JetStream, chdb.

Each is started by the fixtures themselves on free ports / temp dirs; nothing needs pre-starting.
Server packages are imported inside the fixtures, so the SDK's own tests run in an install of the SDK
alone (`just test-sdk-lowest`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from stitchd.embedded import NatsProcess, start_nats, start_postgres, stop_postgres

TEMPLATE_DB = "stitchd_template"
# Processes started by tests take free admin ports: parallel test sessions never collide on 9100.
os.environ.setdefault("STITCHD_ADMIN_PORT", "0")


def _with_db(url: str, dbname: str) -> str:
    """The same server URL pointed at another database."""
    import psycopg

    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A real PostgreSQL for the whole session, with a migrated template database.

    Its data lives outside pytest's rotating temp dirs: a parallel pytest session must not delete it.
    """
    import psycopg
    from psycopg import sql

    from stitchd.migrate import migrate

    data_dir = Path(tempfile.mkdtemp(prefix="stitchd-test-pg-"))
    url = start_postgres(data_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEMPLATE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
    asyncio.run(migrate(_with_db(url, TEMPLATE_DB)))
    yield url
    stop_postgres(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
            )
        )
    yield _with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def nats_process(tmp_path: Path) -> Iterator[NatsProcess]:
    """A fresh nats-server with JetStream on a free port for one test; tests may stop/restart it."""
    proc = start_nats(tmp_path / "nats")
    yield proc
    proc.stop()


@pytest.fixture
def nats_url(nats_process: NatsProcess) -> str:
    return nats_process.url


def restart_nats(proc: NatsProcess, store_dir: Path) -> NatsProcess:
    """Start nats-server again on the same port and store (after `proc.stop()`)."""
    return start_nats(store_dir, proc.port)


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's chdb data directory (chdb allows one path per process at a time)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_client(chdb_path: Path) -> Iterator[Any]:
    """One clickhouse-connect client on embedded chdb for the whole session."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
    yield client
    client.close()


@pytest.fixture
def ch_database(chdb_client: Any) -> Iterator[str]:
    """A fresh ClickHouse database name for one test (tables are the code under test's to create)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    chdb_client.command(f"CREATE DATABASE {name}")
    yield name
    chdb_client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
async def nats_js(nats_url: str) -> AsyncIterator[Any]:
    """A connected JetStream context with Stitchd's streams applied."""
    import nats

    from stitchd.jetstream import ensure_streams

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    yield js
    await nc.drain()
