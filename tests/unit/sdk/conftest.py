"""Fixtures for SDK unit tests: a fake sync server (own thread) and a fake REST gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stitchd_sdk.types import SdkOptions

from schemas.generated.stitchd.flags import v1 as flags_pb
from tests.unit.sdk.fakes import (
    BETA,
    FakeGateway,
    FakeSyncService,
    ServerThread,
    bool_flag,
    heartbeat,
    in_list,
    plan_is,
    snapshot,
)

SEQ = 5


def initial_messages(request: flags_pb.SyncRequest) -> list[flags_pb.SyncResponse]:
    """A snapshot for a fresh SDK; a heartbeat for one resuming (the test pushes any missed deltas)."""
    if request.since_sequence:
        return [heartbeat(request.since_sequence)]
    return [
        snapshot(
            SEQ, bool_flag("pro-only", plan_is("pro")), bool_flag("beta-only", in_list("beta")), lists=[BETA]
        )
    ]


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """A running fake broadcaster answering with `initial_messages`."""
    thread = ServerThread(FakeSyncService(initial_messages)).start()
    yield thread
    thread.shutdown()


@pytest.fixture
def gateway() -> FakeGateway:
    """A fake REST gateway."""
    return FakeGateway()


@pytest.fixture
def options(gateway: FakeGateway) -> SdkOptions:
    """Fast reconnects and the fake REST transport."""
    return SdkOptions(
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        flush_interval_s=3600,
        http_transport=gateway.transport,
        async_http_transport=gateway.transport,
    )
