"""`stitchd up --nats-cluster N --replicas R`: every process its own OS process, restarted if it dies.

The supervisor starts the NATS nodes, applies migrations and the streams (at replication
min(N, 3)), then the Stitchd processes of stitchd.topology, each logging to `<data>/logs/<name>.log`.
A child that exits while the topology runs is started again after RESTART_AFTER seconds (what a
container runtime's restart policy does in deploy/compose.yaml); `<data>/topology.json` always names
every child's pid and ports. SIGINT/SIGTERM stop the Stitchd processes first and the NATS nodes last.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from stitchd.embedded import port_in_use
from stitchd.logging import redact
from stitchd.nats_cluster import write_cluster
from stitchd.processes import Resources
from stitchd.settings import Settings
from stitchd.topology import Child, Topology, app_children, nats_children, nats_nodes, topology_file

log = logging.getLogger("stitchd.supervisor")
RESTART_AFTER = 1.0
STOP_WITHIN = 15.0
READY_WITHIN = 90.0


class Supervisor:
    """Runs children, restarts the ones that die, records them; `stop()` ends them in reverse order."""

    def __init__(self, children: list[Child], record: Path, extra: Mapping[str, Any]) -> None:
        self.children = children
        self.record = record
        self.extra = dict(extra)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.exited_at: dict[str, float] = {}
        self.restarts: dict[str, int] = {c.name: 0 for c in children}
        self.logs = record.parent / "logs"

    def start(self, child: Child) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{child.name}.log").open("ab") as out:
            env = {**os.environ, **child.env}
            # its own session: a Ctrl-C to the terminal reaches the supervisor, which stops children in order
            self.procs[child.name] = subprocess.Popen(
                child.argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._write()

    def poll(self, now: float) -> None:
        """Restart every child that has been dead for RESTART_AFTER seconds."""
        for child in self.children:
            proc = self.procs.get(child.name)
            if proc is None or proc.poll() is None:
                continue
            died = self.exited_at.setdefault(child.name, now)
            if now - died >= RESTART_AFTER:
                log.warning("%s exited with %s; restarting it", child.name, proc.returncode)
                del self.exited_at[child.name]
                self.restarts[child.name] += 1
                self.start(child)

    def stop(self) -> None:
        for child in reversed(self.children):
            proc = self.procs.get(child.name)
            if proc is not None and proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_WITHIN
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _write(self) -> None:
        rows = [
            {"name": c.name, "role": c.role, "pid": self.procs[c.name].pid, "ports": c.ports,
             "restarts": self.restarts[c.name]}
            for c in self.children if c.name in self.procs
        ]  # fmt: skip
        fresh = self.record.with_suffix(".tmp")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({**self.extra, "children": rows}, out, indent=2)
        fresh.replace(self.record)


def run_topology(settings: Settings, topology: Topology, out: TextIO) -> int:
    """Start, announce, supervise until SIGINT/SIGTERM, stop; 0 on a clean stop."""
    nats_kids, apps, record = _plan(settings, topology)
    db, url = record["database_url"], record["nats_url"]
    supervisor = Supervisor([*nats_kids, *apps], topology_file(settings.data_dir), record)
    stopping = _on_signals()
    try:
        for child in nats_kids:
            supervisor.start(child)
        _wait_ports([c.ports["nats"] for c in nats_kids], supervisor, stopping)
        replicas = settings.nats_replicas or topology.stream_replicas
        asyncio.run(_prepare(Resources(db, url, record["clickhouse_url"]), replicas))
        for child in apps:
            supervisor.start(child)
        _announce(supervisor, url, db, out)
        _wait_ports([p for c in apps for p in c.ports.values()], supervisor, stopping)
        print("stitchd: ready (Ctrl-C or SIGTERM stops)", file=out, flush=True)
        while not stopping:
            supervisor.poll(time.monotonic())
            time.sleep(0.2)
    finally:
        supervisor.stop()
    print("stitchd: stopped", file=out, flush=True)
    return 0


def _plan(settings: Settings, topology: Topology) -> tuple[list[Child], list[Child], dict[str, str]]:
    """(NATS nodes, Stitchd processes, the servers' URLs); embedded PostgreSQL starts here."""
    from stitchd.up import clickhouse_url, database_url

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = database_url(settings)
    nodes = [] if settings.nats_url else nats_nodes(settings, topology)
    creds = write_cluster(settings.data_dir.resolve() / "nats", nodes) if nodes else None
    nats: Any = settings.nats_url or (nodes, creds)
    apps = app_children(
        settings, topology, {}, database_url=db, nats=nats, clickhouse_url=clickhouse_url(settings)
    )
    record = {
        "database_url": db,
        "nats_url": apps[0].env["NATS_URL"],
        "clickhouse_url": apps[0].env["CLICKHOUSE_URL"],
    }
    return nats_children(nodes), apps, record


async def _prepare(resources: Resources, replicas: int) -> None:
    from stitchd.up import prepare

    await prepare(resources, replicas=replicas)


def _on_signals() -> list[int]:
    """A list that becomes non-empty on SIGINT/SIGTERM (checked by the supervising loop)."""
    caught: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: caught.append(signum))
    return caught


def _wait_ports(ports: list[int], supervisor: Supervisor, stopping: list[int]) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while not stopping and not all(port_in_use(p) for p in ports):
        if time.monotonic() > deadline:
            log.warning("ports %s still not accepting after %ss; carrying on", ports, READY_WITHIN)
            return
        supervisor.poll(time.monotonic())
        time.sleep(0.1)


def _announce(supervisor: Supervisor, nats_url: str, db: str, out: TextIO) -> None:
    print(f"stitchd up: topology in {supervisor.record}", file=out)
    print(f"  postgres      {redact(db)}", file=out)
    print(f"  nats          {redact(nats_url)}", file=out)
    for child in supervisor.children:
        where = "  ".join(f"{k} :{v}" for k, v in child.ports.items())
        print(f"  {child.name:<13} pid {supervisor.procs[child.name].pid:<8} {where}", file=out)
    out.flush()
