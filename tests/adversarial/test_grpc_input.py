"""gRPC input at the edge: malformed request bytes are INVALID_ARGUMENT; the HTTP/2 stream limit is a setting.

A real grpclib server (the broadcaster over an in-memory event log: the decoding and the HTTP/2 settings
are under test, not the log) and clients speaking raw bytes and raw HTTP/2.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.generated.stitchd.flags.v1 import SyncRequest, SyncResponse
from stitchd.settings import Settings, SettingsError
from sync_broadcaster.app import build_broadcaster
from sync_broadcaster.requests import check_wire_format, decode_request
from tests.unit.sync_broadcaster.test_service import settings as broadcaster_settings
from tests.unit.sync_broadcaster.test_service import setup

WAIT = 10.0  # upper bound so a broken server fails instead of hanging; never asserted on
METHOD = "/stitchd.flags.v1.FlagSyncService/SyncDefinitions"


class RawCodec(ProtoCodec):
    """Sends request bytes as given (a hostile client), decodes answers normally."""

    def encode(self, message: Any, message_type: Any) -> bytes:
        return message if isinstance(message, bytes) else bytes(super().encode(message, message_type))


async def first_answer(port: int, key: str, request: bytes) -> SyncResponse:
    channel = Channel("127.0.0.1", port, codec=RawCodec())
    try:
        async with channel.request(
            METHOD, Cardinality.UNARY_STREAM, SyncRequest, SyncResponse, metadata={"x-sdk-key": key}
        ) as stream:
            await stream.send_message(cast(SyncRequest, request), end=True)  # raw bytes, see RawCodec
            answer = await asyncio.wait_for(stream.recv_message(), WAIT)
            await stream.cancel()  # a server stream never ends by itself
            assert answer is not None
            return answer
    finally:
        channel.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        bytes.fromhex("ffffffff0f01"),  # wire type 7
        bytes.fromhex("1a05ab"),  # field 3 length-delimited, runs past the end
        bytes.fromhex("18ffffffffffffffffffff01"),  # varint longer than 10 bytes
        bytes.fromhex("00"),  # field number 0
        bytes.fromhex("0b"),  # wire type 3 (groups)
    ],
)
async def test_malformed_sync_requests_are_invalid_argument(request_bytes: bytes) -> None:
    world, _, raw, _ = setup()
    async with build_broadcaster(broadcaster_settings(), events=world.log) as running:
        with pytest.raises(GRPCError) as refused:
            await first_answer(running.port, raw, request_bytes)
        assert refused.value.status is Status.INVALID_ARGUMENT
        # A well-formed request on the same server still gets its snapshot.
        good = await first_answer(running.port, raw, bytes(SyncRequest(since_sequence=0)))
        assert good.is_snapshot


sync_requests = st.builds(
    SyncRequest,
    environment_id=st.text(max_size=40),
    since_sequence=st.integers(-(2**63), 2**63 - 1),
)


@settings(max_examples=200, deadline=None)
@given(message=sync_requests)
def test_every_encoded_request_passes_the_wire_check_and_decodes_to_itself(message: SyncRequest) -> None:
    data = bytes(message)
    check_wire_format(data)
    assert decode_request(data, SyncRequest) == message


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_are_invalid_argument(data: bytes) -> None:
    try:
        decode_request(data, SyncRequest)
    except GRPCError as exc:
        status = exc.status
    else:
        status = Status.OK
    assert status in (Status.OK, Status.INVALID_ARGUMENT)


async def announced_max_streams(port: int) -> tuple[int, h2.connection.H2Connection]:
    """Speak HTTP/2 to the server and return the stream limit it settles on after its SETTINGS."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.ping(b"settled?")  # answered after every SETTINGS frame the server sent on connecting
    writer.write(conn.data_to_send())
    acknowledged = False
    while not acknowledged:
        data = await asyncio.wait_for(reader.read(65536), WAIT)
        assert data, "server closed the connection"
        events = conn.receive_data(data)
        acknowledged = any(isinstance(event, h2.events.PingAckReceived) for event in events)
        writer.write(conn.data_to_send())
    writer.close()
    return conn.remote_settings.max_concurrent_streams, conn


@pytest.mark.parametrize("limit", [3, 250])
async def test_the_per_connection_stream_limit_is_the_configured_setting(limit: int) -> None:
    world, _, _, _ = setup()
    config = replace(broadcaster_settings(), max_concurrent_streams=limit)
    async with build_broadcaster(config, events=world.log) as running:
        announced, conn = await announced_max_streams(running.port)
    assert announced == limit
    headers = [(":method", "POST"), (":scheme", "http"), (":path", METHOD), (":authority", "x")]
    for i in range(limit):
        conn.send_headers(1 + 2 * i, headers)
    with pytest.raises(h2.exceptions.TooManyStreamsError):
        conn.send_headers(1 + 2 * limit, headers)


async def test_the_default_stream_limit_is_100() -> None:
    world, _, _, _ = setup()
    async with build_broadcaster(broadcaster_settings(), events=world.log) as running:
        announced, _ = await announced_max_streams(running.port)
    assert announced == 100 == Settings().grpc_max_concurrent_streams


def test_the_stream_limit_setting_is_read_and_checked() -> None:
    assert Settings.from_env({"STITCHD_GRPC_MAX_STREAMS": "1000"}).grpc_max_concurrent_streams == 1000
    for bad in ("0", "-1", "many", "²"):
        with pytest.raises(SettingsError):
            Settings.from_env({"STITCHD_GRPC_MAX_STREAMS": bad})
