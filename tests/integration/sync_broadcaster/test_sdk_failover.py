"""The SDK lists several broadcasters: it streams from one that answers, and moves to another when
its stream ends, resuming with since_sequence (the missed deltas, not a second snapshot)."""

from __future__ import annotations

import asyncio

import pytest
from stitchd_sdk import AsyncSdkClient
from stitchd_sdk.types import SdkOptions

from stitchd.embedded import free_port
from tests.integration.gateway.support import Api
from tests.integration.sync_broadcaster.support import BOOL_FLAG, WAIT, Admin, broadcaster
from tests.stack import Stack

pytestmark = pytest.mark.integration


async def _until(check: object) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "the SDK never got there"
        await asyncio.sleep(0.05)


async def test_an_sdk_skips_a_dead_broadcaster_and_fails_over_to_the_next_with_since_sequence(
    stack: Stack, api: Api
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: the SDK must not stay on it
    options = SdkOptions(
        environment_id=str(tenant.environment_id), send_exposures=False, backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )  # fmt: skip
    async with broadcaster(stack) as second:
        first_running = broadcaster(stack)
        first = await first_running.__aenter__()
        stopped = False
        addresses = [dead, f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"]
        client = await AsyncSdkClient.connect(
            addresses, "http://127.0.0.1:9", tenant.sdk_key, timeout=WAIT, options=options
        )
        try:
            assert client.broadcaster == ("127.0.0.1", first.port)  # past the dead one
            snapshot = client.status().last_sequence
            await first_running.__aexit__(None, None, None)  # its stream ends: on to the next listed
            stopped = True
            await admin.create_flag({**BOOL_FLAG, "key": "later"})
            await _until(lambda: "later" in client.store.current.flags)
            assert client.broadcaster == ("127.0.0.1", second.port)
            assert client.status().last_sequence > snapshot
        finally:
            await client.aclose()
            if not stopped:
                await first_running.__aexit__(None, None, None)
