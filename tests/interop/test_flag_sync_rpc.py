"""A grpcio client generated from our protos talks to a grpclib + betterproto FlagSyncService.

The server here is a small fake serving fixed messages; it proves the RPC paths, streaming, the
`x-sdk-key` metadata and status codes work across the two gRPC stacks (DESIGN section 6).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.events import RecvRequest, listen
from grpclib.exceptions import GRPCError
from grpclib.server import Server

from schemas.generated.stitchd.flags.v1 import (
    FeatureFlag,
    FlagRule,
    FlagSyncServiceBase,
    FlagSyncServiceStub,
    SyncRequest,
    SyncResponse,
)

SDK_KEY = "sdk_live_interop"
SNAPSHOT = SyncResponse(
    flags=[FeatureFlag(key="a", enabled=True, fallthrough=FlagRule(variant_key="on"))],
    sequence_number=5,
    is_snapshot=True,
)
DELTA = SyncResponse(removed_flag_keys=["a"], changed_list_segment_keys=["vip"], sequence_number=6)


class FixedSync(FlagSyncServiceBase):
    """Streams a snapshot and a delta; refuses callers without the SDK key; records requests."""

    def __init__(self) -> None:
        self.requests: list[SyncRequest] = []

    async def sync_definitions(self, sync_request: SyncRequest) -> AsyncIterator[SyncResponse]:
        self.requests.append(sync_request)
        yield SNAPSHOT
        yield DELTA

    async def sync(self, sync_request: SyncRequest) -> SyncResponse:
        self.requests.append(sync_request)
        return SNAPSHOT


async def _require_sdk_key(event: RecvRequest) -> None:
    if event.metadata.get("x-sdk-key") != SDK_KEY:
        raise GRPCError(Status.UNAUTHENTICATED, "missing or unknown x-sdk-key")


@pytest.fixture
async def served() -> AsyncIterator[tuple[FixedSync, str]]:
    """The fake service on a free localhost port, and that address."""
    service = FixedSync()
    server = Server([service])
    listen(server, RecvRequest, _require_sdk_key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await server.start(sock=sock)
    try:
        yield service, f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def _grpcio_stream(modules: dict[str, ModuleType], target: str, key: str | None) -> list[Any]:
    pb2 = modules["stitchd.flags.v1.flag_sync_pb2"]
    pb2_grpc = modules["stitchd.flags.v1.flag_sync_pb2_grpc"]
    metadata = [("x-sdk-key", key)] if key else []
    with grpc.insecure_channel(target) as channel:
        stub = pb2_grpc.FlagSyncServiceStub(channel)
        request = pb2.SyncRequest(environment_id="env-1", since_sequence=4)
        return list(stub.SyncDefinitions(request, metadata=metadata, timeout=10))


def _grpcio_unary(modules: dict[str, ModuleType], target: str) -> Any:
    pb2 = modules["stitchd.flags.v1.flag_sync_pb2"]
    pb2_grpc = modules["stitchd.flags.v1.flag_sync_pb2_grpc"]
    with grpc.insecure_channel(target) as channel:
        stub = pb2_grpc.FlagSyncServiceStub(channel)
        return stub.Sync(pb2.SyncRequest(), metadata=[("x-sdk-key", SDK_KEY)], timeout=10)


async def test_a_grpcio_client_receives_the_stream_in_order(
    served: tuple[FixedSync, str], grpcio_modules: dict[str, ModuleType]
) -> None:
    service, target = served
    responses = await asyncio.to_thread(_grpcio_stream, grpcio_modules, target, SDK_KEY)
    assert [(r.sequence_number, r.is_snapshot) for r in responses] == [(5, True), (6, False)]
    assert responses[0].flags[0].fallthrough.variant_key == "on"
    assert list(responses[1].changed_list_segment_keys) == ["vip"]
    assert [(r.environment_id, r.since_sequence) for r in service.requests] == [("env-1", 4)]


async def test_a_grpcio_client_gets_a_unary_snapshot(
    served: tuple[FixedSync, str], grpcio_modules: dict[str, ModuleType]
) -> None:
    _, target = served
    response = await asyncio.to_thread(_grpcio_unary, grpcio_modules, target)
    assert (response.sequence_number, [f.key for f in response.flags]) == (5, ["a"])


async def test_a_grpcio_client_without_a_key_is_unauthenticated(
    served: tuple[FixedSync, str], grpcio_modules: dict[str, ModuleType]
) -> None:
    _, target = served
    with pytest.raises(grpc.RpcError) as caught:
        await asyncio.to_thread(_grpcio_stream, grpcio_modules, target, None)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_betterproto_stub_receives_the_same_stream(served: tuple[FixedSync, str]) -> None:
    _, target = served
    host, port = target.rsplit(":", 1)
    channel = Channel(host, int(port))
    try:
        stub = FlagSyncServiceStub(channel, metadata={"x-sdk-key": SDK_KEY}, timeout=10)
        received = [r async for r in stub.sync_definitions(SyncRequest(since_sequence=4))]
    finally:
        channel.close()
    assert received == [SNAPSHOT, DELTA]
