"""A local NATS cluster for `stitchd up --nats-cluster N`: one config per node, routes between them.

Every node listens on 127.0.0.1 only, on its client port and its cluster (route) port, keeps its
JetStream store in `<data>/nats/n<i>`, has a unique `server_name` (JetStream requires it) and requires
the same generated credentials on client connections and on routes (the bus is a trust boundary, see
stitchd.nats_config). The nodes are started and restarted by the supervisor (stitchd.topology).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from stitchd.nats_config import NATS_MAX_PAYLOAD, NatsCredentials, credentials

CLUSTER_NAME = "stitchd"


@dataclass(frozen=True)
class NatsNode:
    """One node of the cluster: its ports, its store and its config file."""

    index: int
    port: int
    cluster_port: int
    store_dir: Path

    @property
    def server_name(self) -> str:
        return f"stitchd-n{self.index}"

    @property
    def config_file(self) -> Path:
        return self.store_dir / "nats-server.conf"

    def url(self, creds: NatsCredentials) -> str:
        user, password = quote(creds.user, safe=""), quote(creds.password, safe="")
        return f"nats://{user}:{password}@127.0.0.1:{self.port}"


def plan_nodes(base_dir: Path, ports: list[int], cluster_ports: list[int]) -> list[NatsNode]:
    """Nodes 1..N with the given client and route ports, each storing under base_dir/n<i>."""
    return [
        NatsNode(i + 1, port, route, base_dir / f"n{i + 1}")
        for i, (port, route) in enumerate(zip(ports, cluster_ports, strict=True))
    ]


def node_config(node: NatsNode, peers: list[NatsNode], creds: NatsCredentials) -> str:
    """The node's config text: client listener, JetStream, auth, and routes to every other node."""
    user, password = quote(creds.user, safe=""), quote(creds.password, safe="")
    routes = ", ".join(
        f'"nats-route://{user}:{password}@127.0.0.1:{p.cluster_port}"' for p in peers if p != node
    )
    auth = f'authorization {{ user: "{creds.user}", password: "{creds.password}" }}'
    return "\n".join(
        [
            f'server_name: "{node.server_name}"',
            f'listen: "127.0.0.1:{node.port}"',
            f"max_payload: {NATS_MAX_PAYLOAD}",
            f'jetstream {{ store_dir: "{node.store_dir}" }}',
            auth,
            f'cluster {{ name: "{CLUSTER_NAME}", listen: "127.0.0.1:{node.cluster_port}", {auth},'
            f" routes: [{routes}] }}",
            "",
        ]
    )


def write_cluster(base_dir: Path, nodes: list[NatsNode]) -> NatsCredentials:
    """Write every node's config (owner-only: they hold the password); the shared credentials."""
    creds = credentials(base_dir)
    for node in nodes:
        node.store_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(node.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(node_config(node, nodes, creds))
    return creds


def cluster_url(nodes: list[NatsNode], creds: NatsCredentials, first: int = 0) -> str:
    """NATS_URL naming every node, starting with node `first` (so replicas spread over the nodes)."""
    order = nodes[first % len(nodes) :] + nodes[: first % len(nodes)]
    return ",".join(node.url(creds) for node in order)
