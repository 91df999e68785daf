"""The NATS configuration: authorization always, monitoring never public, one max_payload everywhere."""

from __future__ import annotations

import re
from pathlib import Path

from commands import event_size
from stitchd import nats_config
from stitchd.nats_config import NatsCredentials, NatsTls, credentials, server_config

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "nats" / "nats-server.conf"


def test_the_payload_limits_agree_and_leave_room_for_headers() -> None:
    assert nats_config.NATS_MAX_PAYLOAD == event_size.NATS_MAX_PAYLOAD
    assert event_size.MAX_EVENT_BYTES + event_size.HEADER_ROOM <= event_size.NATS_MAX_PAYLOAD
    deploy = DEPLOY.read_text()
    assert re.search(r"^max_payload: 2MB$", deploy, re.M)  # nats-server reads MB as MiB
    assert event_size.NATS_MAX_PAYLOAD == 2 * 1024 * 1024


def test_the_embedded_config_requires_a_password_and_has_no_monitoring_port(tmp_path: Path) -> None:
    creds = NatsCredentials("stitchd", "s3cret-pw")
    text = server_config(tmp_path, 4222, creds)
    assert 'authorization { user: "stitchd", password: "s3cret-pw" }' in text
    assert 'listen: "127.0.0.1:4222"' in text
    assert f"max_payload: {nats_config.NATS_MAX_PAYLOAD}" in text
    assert "http" not in text
    assert "tls" not in text
    tls = server_config(tmp_path, 4222, creds, tls=NatsTls(Path("/c.pem"), Path("/k.pem")))
    assert 'tls { cert_file: "/c.pem", key_file: "/k.pem" }' in tls
    assert "s3cret-pw" not in repr(creds)


def test_the_deploy_config_requires_a_password_and_binds_monitoring_to_loopback() -> None:
    deploy = DEPLOY.read_text()
    assert re.search(r"authorization \{\s*user: stitchd\s*password: \$STITCHD_NATS_PASSWORD\s*\}", deploy)
    assert re.search(r"^http: 127\.0\.0\.1:8222$", deploy, re.M)
    assert "http_port" not in deploy


def test_credentials_are_generated_once_per_data_directory(tmp_path: Path) -> None:
    first = credentials(tmp_path)
    assert len(first.password) >= 32
    assert credentials(tmp_path) == first
    assert credentials(tmp_path / "other") != first
