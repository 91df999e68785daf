"""`stitchd migrate` and `stitchd projections rebuild NAME` as real subprocesses against a test database."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from commands.postgres_store import open_postgres_store
from tests.integration.projections.conftest import checkpoint, snapshot
from tests.integration.projections.tenancy import Tenancy

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


async def _stitchd(*args: str, database_url: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stitchd", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_migrate_on_a_migrated_database_reports_up_to_date(pg_url: str) -> None:
    assert await _stitchd("migrate", database_url=pg_url) == (0, "stitchd: migrations up to date\n", "")


async def test_rebuild_command_replays_the_store_with_a_progress_bar(pg_url: str) -> None:
    store = await open_postgres_store(pg_url)
    tenancy = Tenancy(store)
    await tenancy.populate(orgs=1)
    await store.aclose()
    code, out, err = await _stitchd("projections", "rebuild", "directory", database_url=pg_url)
    assert code == 0
    assert out == f"stitchd: rebuilt directory up to position {tenancy.last_position}\n"
    total = tenancy.last_position
    assert err.endswith(f"\rdirectory [{'#' * 30}] 100%  {total}/{total} events\n")
    assert await checkpoint(pg_url, "directory") == total
    environments = (await snapshot(pg_url, ("rm_environments",)))["rm_environments"]
    assert len(environments) == 4  # 1 org x 2 projects x 2 environments


async def test_rebuilding_an_unknown_projection_is_one_line_and_exit_1(pg_url: str) -> None:
    code, _, err = await _stitchd("projections", "rebuild", "nope", database_url=pg_url)
    assert code == 1
    assert err.startswith("stitchd: no projection 'nope' (known: directory")
    assert len(err.splitlines()) == 1
