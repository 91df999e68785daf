"""`stitchd projector` as a real process: SIGKILLed while projecting, restarted, equal to a fresh rebuild."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from commands.postgres_store import PostgresEventStore
from projections import directory
from projections.rebuild import rebuild
from readmodels.db import wait_for_position
from tests.integration.projections.conftest import checkpoint, snapshot
from tests.integration.projections.tenancy import Tenancy

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


async def _projector(pg_url: str, nats_url: str, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATABASE_URL": pg_url, "NATS_URL": nats_url}
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stitchd", "projector", cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def test_a_projector_killed_with_sigkill_resumes_to_the_rebuilt_result(
    pg_url: str,
    nats_url: str,
    store: PostgresEventStore,
    relay: None,
    tmp_path: Path,
) -> None:
    tenancy = Tenancy(store)
    await tenancy.populate(orgs=6)
    log = tmp_path / "projector.log"
    first = await _projector(pg_url, nats_url, log)
    while await checkpoint(pg_url, directory.NAME) == 0:
        assert first.returncode is None, log.read_text()
        await asyncio.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    await tenancy.populate(orgs=1)

    second = await _projector(pg_url, nats_url, log)
    try:
        assert await wait_for_position(pg_url, tenancy.last_position, 60, names=[directory.NAME])
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 60) == 0
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    live = await snapshot(pg_url, directory.TABLES)
    await rebuild(pg_url, directory)
    assert await snapshot(pg_url, directory.TABLES) == live
    assert len(live["rm_orgs"]) == 7
