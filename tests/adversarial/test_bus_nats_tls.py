"""The embedded nats-server speaks TLS when a certificate pair is given (STITCHD_NATS_TLS_CERT/KEY)."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import nats
import pytest
import trustme

from stitchd.embedded import start_nats
from stitchd.nats_config import CONFIG_FILE, CREDENTIALS_FILE, NatsTls
from stitchd.settings import Settings

pytestmark = pytest.mark.integration


def test_the_nats_tls_pair_is_read_from_settings() -> None:
    settings = Settings.from_env({"STITCHD_NATS_TLS_CERT": "c.pem", "STITCHD_NATS_TLS_KEY": "k.pem"})
    assert (settings.nats_tls_cert, settings.nats_tls_key) == (Path("c.pem"), Path("k.pem"))


async def test_clients_connect_over_tls_and_plaintext_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the clients' trust store: our private CA
    server = start_nats(tmp_path / "nats", tls=NatsTls(cert, key))
    try:
        assert server.url.startswith("tls://")
        nc = await nats.connect(server.url, allow_reconnect=False, connect_timeout=5)
        await nc.close()
        # a plaintext client is told to upgrade before anything else (nats-py does so on its own)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        info = await reader.readline()
        writer.close()
        assert info.startswith(b"INFO ")
        assert json.loads(info[5:])["tls_required"] is True
    finally:
        server.stop()
    for secret in (CONFIG_FILE, CREDENTIALS_FILE):  # they hold the password: owner-only
        assert stat.S_IMODE((tmp_path / "nats" / secret).stat().st_mode) == 0o600
