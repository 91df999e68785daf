"""The multi-process local topology of `stitchd up --nats-cluster N --replicas R`: who runs, where.

Every Stitchd process is its own OS process (`python -m stitchd <name>`), so any one can be killed
alone: N NATS nodes, R gateways, R broadcasters and R relays (one leads, by a PostgreSQL advisory lock;
the others stand by), one projector and one stats worker (embedded chdb belongs to one process; with
CLICKHOUSE_URL it could be more, but one durable consumer already resumes where it stopped).
Ports count up from the usual bases (HTTP_PORT, GRPC_PORT, STITCHD_ADMIN_PORT, STITCHD_NATS_PORT, and
the NATS route ports from STITCHD_NATS_PORT + 2000); a base of 0 takes free ports.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from stitchd.embedded import free_port, nats_server_binary
from stitchd.nats_cluster import NatsNode, cluster_url, plan_nodes
from stitchd.nats_config import NatsCredentials
from stitchd.settings import Settings

REPLICATED = ("gateway", "broadcaster", "relay")  # the rest run once (see the module docstring)
SINGLE = ("projector", "stats-worker")
ROUTE_PORT_OFFSET = 2000  # 4222 -> 6222, NATS' usual route port


@dataclass(frozen=True)
class Topology:
    """How many NATS nodes and replicas of each replicated process."""

    nats_nodes: int = 3
    replicas: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.nats_nodes <= 5 or not 1 <= self.replicas <= 9:
            raise ValueError("--nats-cluster takes 1 to 5 nodes and --replicas 1 to 9")

    @property
    def stream_replicas(self) -> int:
        return min(self.nats_nodes, 3)


@dataclass
class Child:
    """One supervised OS process: its command, environment, and the ports it serves."""

    name: str  # e.g. gateway-1, nats-2
    role: str  # the process name (gateway), or nats
    argv: list[str]
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)


def _ports(base: int, count: int) -> list[int]:
    return [base + i for i in range(count)] if base else [free_port() for _ in range(count)]


def nats_nodes(settings: Settings, topology: Topology) -> list[NatsNode]:
    """The planned nodes (ports from STITCHD_NATS_PORT, routes 2000 above)."""
    n, base = topology.nats_nodes, settings.nats_port
    routes = _ports(base + ROUTE_PORT_OFFSET if base else 0, n)
    return plan_nodes(settings.data_dir.resolve() / "nats", _ports(base, n), routes)


def nats_children(nodes: list[NatsNode]) -> list[Child]:
    binary = nats_server_binary()
    return [
        Child(
            f"nats-{node.index}",
            "nats",
            [binary, "-c", str(node.config_file)],
            {},
            {"nats": node.port, "route": node.cluster_port},
        )
        for node in nodes
    ]


def app_children(
    settings: Settings,
    topology: Topology,
    base_env: dict[str, str],
    *,
    database_url: str,
    nats: tuple[list[NatsNode], NatsCredentials] | str,
    clickhouse_url: str,
) -> list[Child]:
    """Every Stitchd process of the topology, each with its own ports and its NATS node first."""
    names = [(role, i) for role in REPLICATED for i in range(topology.replicas)] + [(r, 0) for r in SINGLE]
    http = _ports(settings.http_port, topology.replicas)
    grpc = _ports(settings.grpc_port, topology.replicas)
    admin = None if settings.admin_port is None else _ports(settings.admin_port, len(names))
    children = []
    for k, (role, i) in enumerate(names):
        env = {
            **base_env,
            "DATABASE_URL": database_url,
            "NATS_URL": nats if isinstance(nats, str) else cluster_url(*nats, first=k),
            "CLICKHOUSE_URL": clickhouse_url,
            "STITCHD_DATA_DIR": str(settings.data_dir.resolve()),
            "STITCHD_NATS_REPLICAS": str(settings.nats_replicas or topology.stream_replicas),
            "HTTP_PORT": str(http[i]),
            "GRPC_PORT": str(grpc[i]),
            "STITCHD_ADMIN_PORT": "off" if admin is None else str(admin[k]),
        }
        ports = {"admin": admin[k]} if admin is not None else {}
        ports |= {"http": http[i]} if role == "gateway" else {}
        ports |= {"grpc": grpc[i]} if role == "broadcaster" else {}
        suffix = f"-{i + 1}" if role in REPLICATED else ""
        children.append(Child(role + suffix, role, [sys.executable, "-m", "stitchd", role], env, ports))
    return children


def topology_file(data_dir: Path) -> Path:
    """Where the supervisor records every child's pid and ports (owner-only: it names the NATS URL)."""
    return data_dir.resolve() / "topology.json"
