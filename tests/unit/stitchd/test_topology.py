"""The multi-process topology's plan: NATS cluster configs, who runs with which ports and servers,
stream replication, NATS_URL lists and SDK address lists."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stitchd_sdk.sync import parse_grpc_urls

from stitchd import cli
from stitchd.jetstream import stream_configs
from stitchd.nats_cluster import cluster_url, node_config, plan_nodes, write_cluster
from stitchd.nats_config import NatsCredentials
from stitchd.settings import Settings, SettingsError
from stitchd.topology import Topology, app_children, nats_children, nats_nodes
from telemetry.nats_urls import nats_servers

CREDS = NatsCredentials("stitchd", "pw-123")


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, http_port=8080, grpc_port=50050, admin_port=9100, nats_port=4222)


def test_each_node_routes_to_every_other_with_credentials_and_a_unique_name(tmp_path: Path) -> None:
    nodes = plan_nodes(tmp_path, [4222, 4223, 4224], [6222, 6223, 6224])
    texts = [node_config(n, nodes, CREDS) for n in nodes]
    for node, text in zip(nodes, texts, strict=True):
        routes = re.findall(r"nats-route://stitchd:pw-123@127\.0\.0\.1:(\d+)", text)
        assert sorted(map(int, routes)) == sorted(n.cluster_port for n in nodes if n != node)
        assert f'listen: "127.0.0.1:{node.port}"' in text
        assert f'listen: "127.0.0.1:{node.cluster_port}"' in text
        assert text.count('authorization { user: "stitchd", password: "pw-123" }') == 2  # clients, routes
    assert len({re.search(r'server_name: "(.+)"', t).group(1) for t in texts}) == 3  # type: ignore[union-attr]


def test_the_cluster_configs_are_owner_only_and_share_one_password(tmp_path: Path) -> None:
    nodes = plan_nodes(tmp_path, [1, 2], [3, 4])
    creds = write_cluster(tmp_path, nodes)
    for node in nodes:
        assert node.config_file.stat().st_mode & 0o777 == 0o600
        assert creds.password in node.config_file.read_text()


def test_the_local_topology_runs_every_process_on_its_own_ports(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    topology = Topology(3, 2)
    nodes = nats_nodes(settings, topology)
    assert [(n.port, n.cluster_port) for n in nodes] == [(4222, 6222), (4223, 6223), (4224, 6224)]
    assert [c.name for c in nats_children(nodes)] == ["nats-1", "nats-2", "nats-3"]
    apps = app_children(
        settings,
        topology,
        {},
        database_url="postgresql://db",
        nats=(nodes, CREDS),
        clickhouse_url="chdb:///x",
    )
    names = [c.name for c in apps]
    assert names == [
        "gateway-1", "gateway-2", "broadcaster-1", "broadcaster-2", "relay-1", "relay-2",
        "projector", "stats-worker",
    ]  # fmt: skip
    assert [c.ports["http"] for c in apps if c.role == "gateway"] == [8080, 8081]
    assert [c.ports["grpc"] for c in apps if c.role == "broadcaster"] == [50050, 50051]
    admin = [c.ports["admin"] for c in apps]
    assert len(set(admin)) == len(apps)
    assert all(c.env["STITCHD_NATS_REPLICAS"] == "3" for c in apps)
    firsts = {nats_servers(c.env["NATS_URL"])[0] for c in apps}
    assert len(firsts) == 3  # the processes spread over the nodes
    assert all(len(nats_servers(c.env["NATS_URL"])) == 3 for c in apps)


def test_free_ports_when_the_bases_are_zero(tmp_path: Path) -> None:
    settings = dataclasses.replace(_settings(tmp_path), http_port=0, grpc_port=0, admin_port=0, nats_port=0)
    apps = app_children(
        settings, Topology(1, 2), {}, database_url="d", nats="nats://x:4222", clickhouse_url="c"
    )
    ports = [p for c in apps for p in c.ports.values()]
    assert len(set(ports)) == len(ports)
    assert all(p > 0 for p in ports)
    assert {c.env["NATS_URL"] for c in apps} == {"nats://x:4222"}  # an external NATS, as given


def test_stream_replication_follows_the_cluster_or_the_setting() -> None:
    assert {c.num_replicas for c in stream_configs()} == {1}
    assert {c.num_replicas for c in stream_configs(replicas=3)} == {3}
    assert Topology(3, 2).stream_replicas == 3
    assert Topology(5, 1).stream_replicas == 3
    assert Topology(1, 2).stream_replicas == 1


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("3", 3), ("1", 1)])
def test_nats_replicas_setting(raw: str, expected: int | None) -> None:
    assert Settings.from_env({"STITCHD_NATS_REPLICAS": raw}).nats_replicas == expected


@pytest.mark.parametrize("raw", ["0", "6", "three"])
def test_bad_nats_replicas_are_refused_by_name(raw: str) -> None:
    with pytest.raises(SettingsError, match="STITCHD_NATS_REPLICAS"):
        Settings.from_env({"STITCHD_NATS_REPLICAS": raw})


def test_an_impossible_topology_is_one_line_and_exit_code_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["up", "--nats-cluster", "9"]) == 1
    assert "--nats-cluster takes 1 to 5 nodes" in capsys.readouterr().err


def test_cluster_url_starts_at_the_node_asked_for(tmp_path: Path) -> None:
    nodes = plan_nodes(tmp_path, [1, 2, 3], [4, 5, 6])
    ports = [int(u.rsplit(":", 1)[1]) for u in nats_servers(cluster_url(nodes, CREDS, first=4))]
    assert ports == [2, 3, 1]


@given(st.lists(st.integers(1, 65535), min_size=1, max_size=5))
def test_address_lists_parse_alike_as_text_or_sequence(ports: list[int]) -> None:
    addresses = [f"10.0.0.1:{p}" for p in ports]
    expected = [("10.0.0.1", p, False) for p in ports]
    assert parse_grpc_urls(addresses) == expected
    assert parse_grpc_urls(" , ".join(addresses)) == expected
    assert nats_servers(",".join(f"nats://h:{p}" for p in ports)) == [f"nats://h:{p}" for p in ports]


def test_empty_address_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="gRPC"):
        parse_grpc_urls(" , ")
    with pytest.raises(ValueError, match="NATS"):
        nats_servers("")


DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_the_compose_file_is_the_same_topology_with_secrets_from_the_environment() -> None:
    import yaml  # a test-only reader (schemathesis brings PyYAML; untyped: pyproject mypy overrides)

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert {f"nats-{i}" for i in (1, 2, 3)} <= set(services)
    assert {n: services[n]["deploy"]["replicas"] for n in ("gateway", "broadcaster", "relay")} == {
        "gateway": 2, "broadcaster": 2, "relay": 2,
    }  # fmt: skip
    env = services["gateway"]["environment"]
    assert env["STITCHD_NATS_REPLICAS"] == "3"
    assert len(nats_servers(env["NATS_URL"])) == 3
    for name in ("STITCHD_JWT_SECRET", "DATABASE_URL", "CLICKHOUSE_URL"):
        assert "${" in env[name]  # never a password written into the file
    routes = re.findall(r"\$NATS_ROUTE_\d", (DEPLOY / "nats" / "cluster.conf").read_text())
    assert routes == ["$NATS_ROUTE_1", "$NATS_ROUTE_2", "$NATS_ROUTE_3"]
