"""The multi-process topology (`stitchd up --nats-cluster 3 --replicas 2`) for kill tests.

The supervisor runs as this test's child; its children are recorded with their pids and ports in
`<data>/topology.json`, which is how a test finds what to kill (by pid, with SIGKILL) and how it sees
the supervisor start the process again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stitchd.embedded import port_in_use
from tests.metrics_support import sample

START_WITHIN = 180.0  # bounds a broken start; never asserted on
RESTART_WITHIN = 60.0


@dataclass
class Topology:
    """Handles on the running topology."""

    data_dir: Path
    supervisor: subprocess.Popen[bytes]

    def record(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.data_dir / "topology.json").read_text())
        return loaded

    def child(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(c for c in self.record()["children"] if c["name"] == name)
        return found

    def named(self, role: str) -> list[str]:
        return [c["name"] for c in self.record()["children"] if c["role"] == role]

    def port(self, name: str, kind: str) -> int:
        return int(self.child(name)["ports"][kind])

    @property
    def gateways(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port(n, 'http')}" for n in self.named("gateway")]

    @property
    def broadcasters(self) -> list[str]:
        return [f"127.0.0.1:{self.port(n, 'grpc')}" for n in self.named("broadcaster")]

    @property
    def database_url(self) -> str:
        return str(self.record()["database_url"])

    @property
    def nats_url(self) -> str:
        return str(self.record()["nats_url"])

    def kill(self, name: str) -> int:
        """SIGKILL one child; returns the pid killed."""
        pid = int(self.child(name)["pid"])
        os.kill(pid, signal.SIGKILL)
        return pid

    async def restarted(self, name: str, old_pid: int) -> None:
        """Wait until the supervisor runs `name` again (a new pid) and its ports accept."""
        deadline = time.monotonic() + RESTART_WITHIN
        while True:
            child = self.child(name)
            if child["pid"] != old_pid and all(port_in_use(p) for p in child["ports"].values()):
                return
            assert time.monotonic() < deadline, f"{name} was not restarted"
            await asyncio.sleep(0.2)

    async def metric(self, name: str, family: str, **labels: str) -> float | None:
        """One sample of a child's /metrics (None when it does not answer)."""
        url = f"http://127.0.0.1:{self.port(name, 'admin')}/metrics"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return sample((await client.get(url)).text, family, **labels)
        except httpx.TransportError:
            return None


@contextlib.contextmanager
def running_topology(data_dir: Path) -> Iterator[Topology]:
    """Start the topology on free ports under data_dir; stop it (and every child) at the end."""
    env = {
        **os.environ,
        "STITCHD_DATA_DIR": str(data_dir),
        "HTTP_PORT": "0",
        "GRPC_PORT": "0",
        "STITCHD_ADMIN_PORT": "0",
        "STITCHD_NATS_PORT": "0",
        "LOG_LEVEL": "INFO",
    }
    for name in ("DATABASE_URL", "NATS_URL", "CLICKHOUSE_URL"):
        env.pop(name, None)
    out = (data_dir / "supervisor.log").open("wb")
    argv = [sys.executable, "-m", "stitchd", "up", "--nats-cluster", "3", "--replicas", "2"]
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    topology = Topology(data_dir, proc)
    try:
        _wait_ready(data_dir / "supervisor.log", proc)
        yield topology
    finally:
        _stop(topology)
        out.close()


def _wait_ready(log: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_WITHIN
    while b"stitchd: ready" not in log.read_bytes():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def _stop(topology: Topology) -> None:
    """SIGTERM the supervisor (it stops its children); any child it left behind is killed by pid."""
    proc = topology.supervisor
    pids = [int(c["pid"]) for c in topology.record()["children"]]
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in pids:
        if _ours(pid, topology.data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _ours(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is still one of this topology's children (not a reused pid)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"STITCHD_DATA_DIR={data_dir}".encode() in environ.split(b"\0")
