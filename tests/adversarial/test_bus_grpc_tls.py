"""gRPC with TLS: the broadcaster serves a certificate pair given by settings, the SDK trusts a CA."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from grpclib.client import Channel
from stitchd_sdk import AsyncSdkClient, SdkOptions

from schemas.generated.stitchd.flags.v1 import FlagSyncServiceStub, SyncRequest
from stitchd.settings import Settings, SettingsError
from sync_broadcaster.app import BroadcasterSettings, build_broadcaster
from tests.integration.gateway.support import Api, api_fixture  # noqa: F401
from tests.integration.sync_broadcaster.support import Admin
from tests.stack import Stack

pytestmark = pytest.mark.integration


def test_a_certificate_without_its_key_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="STITCHD_GRPC_TLS_KEY"):
        Settings.from_env({"STITCHD_GRPC_TLS_CERT": "/etc/cert.pem"})
    pair = Settings.from_env({"STITCHD_GRPC_TLS_CERT": "c.pem", "STITCHD_GRPC_TLS_KEY": "k.pem"})
    assert (pair.grpc_tls_cert, pair.grpc_tls_key) == (Path("c.pem"), Path("k.pem"))


async def test_the_sdk_syncs_over_tls_with_a_private_ca_and_plaintext_is_refused(
    api: Api, stack: Stack, tmp_path: Path
) -> None:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    server.private_key_pem.write_to_path(str(key))
    server.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(ca_file))
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    await stack.settle()
    settings = BroadcasterSettings(
        database_url=stack.pg_url,
        nats_url=stack.nats_url,
        host="127.0.0.1",
        port=0,
        tls_cert=cert,
        tls_key=key,
    )
    async with build_broadcaster(settings) as running:
        options = SdkOptions(grpc_ca_file=str(ca_file), send_exposures=False)
        grpc = f"https://127.0.0.1:{running.port}"
        async with await AsyncSdkClient.connect(
            grpc, "http://gateway", tenant.sdk_key, timeout=30, options=options
        ) as client:
            assert (await client.bool_details("checkout", ("user", "u1", {}), True)).variant_key == "off"
        plain = Channel("127.0.0.1", running.port)
        try:
            stub = FlagSyncServiceStub(plain, metadata={"x-sdk-key": tenant.sdk_key}, timeout=5)
            with pytest.raises(Exception):  # noqa: B017 -- any transport failure: no TLS, no answer
                await stub.sync(SyncRequest())
        finally:
            plain.close()
