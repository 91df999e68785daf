"""SyncDefinitions (and the unary Sync) served downstream by the edge, as the broadcaster serves them.

A downstream SDK's key must be one the edge was configured with: it is looked up by its hash, the raw
key is never compared. Its since_sequence is answered from the relay's history (the upstream deltas,
unchanged) or with a snapshot of the held definitions at their upstream sequence; then each change
follows, heartbeats while idle. A key upstream refuses (revoked) is refused here too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpclib.const
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from domain.tenancy.sdk_keys import hash_sdk_key
from edge.relay import Relay
from schemas.generated.stitchd.flags.v1 import FlagSyncServiceBase, SyncRequest, SyncResponse
from sync_broadcaster.service import MAX_KEY_LENGTH, SDK_KEY_METADATA, Ticker
from sync_broadcaster.wire import Encoded

SyncStream = Stream[SyncRequest, Any]


class EdgeSyncService(FlagSyncServiceBase):
    """Downstream definition sync from the relays (key hash -> relay)."""

    def __init__(self, relays: dict[str, Relay], *, heartbeat_seconds: float) -> None:
        self.relays = relays
        self.ticker = Ticker(heartbeat_seconds)
        self.open_streams = 0
        self._closing: asyncio.Future[None] | None = None

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        card = grpclib.const.Cardinality
        return {
            "/stitchd.flags.v1.FlagSyncService/SyncDefinitions": grpclib.const.Handler(
                self.stream_definitions, card.UNARY_STREAM, SyncRequest, SyncResponse
            ),
            "/stitchd.flags.v1.FlagSyncService/Sync": grpclib.const.Handler(
                self.unary_sync, card.UNARY_UNARY, SyncRequest, SyncResponse
            ),
        }

    def shutdown(self) -> None:
        """End every open stream with UNAVAILABLE (downstream SDKs reconnect and resume)."""
        closing = self._closing_future()
        if not closing.done():
            closing.set_result(None)

    def _closing_future(self) -> asyncio.Future[None]:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        return self._closing

    async def unary_sync(self, stream: SyncStream) -> None:
        request = await stream.recv_message()
        relay = self._authenticate(stream, request)
        await stream.send_message(Encoded(relay.snapshot(), relay.sequence))

    async def stream_definitions(self, stream: SyncStream) -> None:
        request = await stream.recv_message()
        relay = self._authenticate(stream, request)
        self.open_streams += 1
        try:
            cursor = await self._send_since(stream, relay, request.since_sequence if request else 0)
            await self._follow(stream, relay, cursor)
        finally:
            self.open_streams -= 1

    def _authenticate(self, stream: SyncStream, request: SyncRequest | None) -> Relay:
        raw = stream.metadata.get(SDK_KEY_METADATA) if stream.metadata is not None else None
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_KEY_LENGTH:
            raise GRPCError(Status.UNAUTHENTICATED, "missing x-sdk-key metadata")
        relay = self.relays.get(hash_sdk_key(raw.strip()))
        if relay is None or relay.refused:
            raise GRPCError(Status.UNAUTHENTICATED, "sdk key not served by this edge")
        if not relay.ready:
            raise GRPCError(Status.UNAVAILABLE, "no definitions yet (upstream not reached, no cache)")
        if request is not None and request.environment_id and request.environment_id != relay.environment_id:
            raise GRPCError(Status.NOT_FOUND, f"environment {request.environment_id} not found")
        return relay

    async def _send_since(self, stream: SyncStream, relay: Relay, since: int) -> int:
        """Missed deltas (from the history), a heartbeat when current, else a snapshot; the new cursor."""
        deltas = relay.deltas_since(since) if since > 0 else None
        if deltas is None:
            sequence = relay.sequence
            await stream.send_message(Encoded(relay.snapshot(), sequence))
            return sequence
        if not deltas:
            await stream.send_message(_heartbeat(relay, since))
            return since
        for delta in deltas:
            await stream.send_message(delta)
        return deltas[-1].sequence_number

    async def _follow(self, stream: SyncStream, relay: Relay, cursor: int) -> None:
        while True:
            changed = relay.changed()
            if relay.refused:
                raise GRPCError(Status.UNAUTHENTICATED, "sdk key revoked")
            if relay.sequence != cursor:
                cursor = await self._send_since(stream, relay, cursor)
                continue
            tick, closing = self.ticker.future, self._closing_future()
            await asyncio.wait((changed, tick, closing), return_when=asyncio.FIRST_COMPLETED)
            if closing.done():
                raise GRPCError(Status.UNAVAILABLE, "edge shutting down")
            if not changed.done():
                await stream.send_message(_heartbeat(relay, cursor))


def _heartbeat(relay: Relay, sequence: int) -> SyncResponse:
    return SyncResponse(
        environment_id=relay.environment_id,
        sequence_number=sequence,
        is_heartbeat=True,
        server_timestamp_ms=time.time_ns() // 1_000_000,
    )
