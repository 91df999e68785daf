"""`python -m stitchd up` as a real subprocess: embedded servers, restart with data intact, clear failures."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from commands.postgres_store import open_postgres_store
from projections import directory
from readmodels.db import wait_for_position
from stitchd.embedded import free_port
from stitchd.logging import redact
from tests.integration.projections.tenancy import Tenancy

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
STARTUP = 120.0


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "NATS_URL", "CLICKHOUSE_URL"}}
    env.update(
        STITCHD_DATA_DIR=str(data_dir),
        STITCHD_NATS_PORT=str(free_port()),
        HTTP_PORT=str(free_port()),
        GRPC_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Up:
    process: asyncio.subprocess.Process
    lines: list[str]

    def listener(self, name: str) -> str:
        """The address printed for `name` (e.g. the embedded PostgreSQL URL)."""
        for line in self.lines:
            parts = line.split()
            if parts and parts[0] == name:
                return parts[1]
        raise AssertionError(f"no {name} line in {self.lines}")


@asynccontextmanager
async def stitchd_up(env: Mapping[str, str], log: Path) -> AsyncIterator[Up]:
    """Start `stitchd up`, wait for its ready line, SIGTERM it at the end and expect a clean exit.

    The signal goes to the whole process group, as a terminal's Ctrl-C does: the embedded servers
    must not die under the processes that are still draining their connections.
    """
    with log.open("ab") as stderr:  # a file, not a pipe: an unread pipe would fill and block the child
        start = stderr.tell()  # where this run's output begins (append mode starts at the end)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stitchd", "up", cwd=ROOT, env=dict(env),
            stdout=asyncio.subprocess.PIPE, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    try:
        up = Up(process, await _read_until_ready(process, log))
        yield up
        os.killpg(process.pid, signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        assert process.stdout is not None
        assert b"stitchd: stopped" in await process.stdout.read()
        assert "Traceback" not in (await asyncio.to_thread(log.read_text))[start:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _read_until_ready(process: asyncio.subprocess.Process, log: Path) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("stitchd: ready"):
        raw = await asyncio.wait_for(process.stdout.readline(), STARTUP)
        if not raw:
            raise AssertionError(f"stitchd up exited: {await asyncio.to_thread(log.read_text)}")
        lines.append(raw.decode().rstrip())
    return lines


async def _org_names(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT name FROM rm_orgs ORDER BY name")
        return [row[0] for row in await cur.fetchall()]


async def test_up_stopped_and_started_again_keeps_every_event_and_projects_new_ones(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    log = tmp_path / "stitchd.log"
    async with stitchd_up(env, log) as up:
        url = up.listener("postgres")
        store = await open_postgres_store(url)
        tenancy = Tenancy(store)
        await tenancy.org("before restart")
        assert await wait_for_position(url, tenancy.last_position, 60, names=[directory.NAME])
        before = [(e.position, e.event_id) for e in await store.read_all(0)]
        await store.aclose()

    async with stitchd_up(env, log) as up:
        url = up.listener("postgres")
        store = await open_postgres_store(url)
        after = [(e.position, e.event_id) for e in await store.read_all(0)]
        assert after[: len(before)] == before  # other processes may append at start-up; nothing is lost
        tenancy = Tenancy(store)
        await tenancy.org("after restart")
        await store.aclose()
        assert await wait_for_position(url, tenancy.last_position, 60, names=[directory.NAME])
        assert {"before restart", "after restart"} <= set(await _org_names(url))


async def test_a_taken_nats_port_is_one_clear_line_and_exit_code_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(tmp_path / "data", STITCHD_NATS_PORT=str(port))
        code, stderr = await _run_to_exit(env)
    assert code == 1
    assert stderr.strip().splitlines() == [
        f"stitchd: port {port} for nats-server is already in use (set STITCHD_NATS_PORT or NATS_URL)"
    ]


async def test_an_unreachable_database_is_one_clear_line_without_the_password(tmp_path: Path) -> None:
    dead = free_port()
    env = _env(
        tmp_path / "data",
        DATABASE_URL=f"postgresql://stitchd:hunter2@127.0.0.1:{dead}/stitchd?connect_timeout=2",
        NATS_URL=f"nats://127.0.0.1:{free_port()}",
    )
    code, stderr = await _run_to_exit(env)
    lines = stderr.strip().splitlines()
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith("stitchd: PostgreSQL at postgresql://stitchd:[REDACTED]@127.0.0.1")
    assert "hunter2" not in stderr


async def _run_to_exit(env: Mapping[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stitchd", "up", cwd=ROOT, env=dict(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), STARTUP)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_with_urls_set_up_uses_those_servers_and_starts_none(
    tmp_path: Path, pg_url: str, nats_url: str
) -> None:
    data = tmp_path / "data"
    env = _env(data, DATABASE_URL=pg_url, NATS_URL=nats_url)
    async with stitchd_up(env, tmp_path / "stitchd.log") as up:
        assert up.listener("nats") == redact(nats_url)  # the bus password is never printed
        assert "[REDACTED]@" in up.listener("nats")
        assert not [line for line in up.lines if "postgres" in line and "(embedded)" in line]
        assert not [line for line in up.lines if line.split()[:1] == ["nats"] and "(embedded)" in line]
    assert not (data / "pg").exists()
    assert not (data / "nats").exists()
