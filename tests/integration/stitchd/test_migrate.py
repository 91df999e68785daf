"""Start-up preparation on real servers: migrations (in order, recorded, rerun- and race-safe), NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from stitchd.embedded import free_port
from stitchd.migrate import migrate, migration_files
from stitchd.processes import Resources
from stitchd.up import StartError, prepare
from tests.conftest import _with_db

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with no migrations applied."""
    name = f"m_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def _recorded(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT name FROM schema_migrations ORDER BY name")
        return [row[0] for row in await cur.fetchall()]


async def test_first_run_applies_every_file_in_order_and_a_rerun_is_a_no_op(empty_db_url: str) -> None:
    names = [name for name, _ in migration_files()]
    assert await migrate(empty_db_url) == names
    assert await migrate(empty_db_url) == []
    assert await _recorded(empty_db_url) == names


async def test_two_concurrent_migrators_both_succeed_and_apply_each_file_once(empty_db_url: str) -> None:
    first, second = await asyncio.gather(migrate(empty_db_url), migrate(empty_db_url))
    names = [name for name, _ in migration_files()]
    assert sorted(first + second) == names
    assert [] in (first, second)
    assert await _recorded(empty_db_url) == names


async def test_the_directory_tables_exist_after_migrating(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'rm\\_%%'"
            " AND table_name IN ('rm_orgs', 'rm_projects', 'rm_environments') ORDER BY 1"
        )
        assert [r[0] for r in await cur.fetchall()] == ["rm_environments", "rm_orgs", "rm_projects"]


async def test_an_unreachable_nats_is_a_start_error_naming_it(pg_url: str) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(StartError, match=f"NATS at {url} is unreachable"):
        await prepare(Resources(pg_url, url, "chdb:///unused"))
