"""The stack's processes stopped right after they start (the race in every short test) stop promptly.

Teardown runs in pytest-asyncio's finalizer, as for every fixture built on `running`: without repeated
cancellation a cancellation swallowed during start-up left this teardown waiting forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stitchd.processes import Resources, running
from stitchd.settings import Settings
from stitchd.up import prepare
from tests.stack import STACK_PROCESSES

pytestmark = pytest.mark.integration


@pytest.fixture
async def started(pg_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[None]:
    settings = Settings(database_url=pg_url, nats_url=nats_url, data_dir=tmp_path)
    resources = Resources(pg_url, nats_url, f"chdb://{tmp_path / 'chdb'}")
    await prepare(resources)
    async with running(STACK_PROCESSES, settings, resources):
        yield


@pytest.mark.usefixtures("started")
async def test_processes_stopped_right_after_start_stop() -> None:
    """Nothing to do: the fixture's teardown is the test (a hang fails it by the suite's timeout)."""
