"""FlagSyncService: definition sync for SDKs (DESIGN section 6) from the in-memory DefinitionsCache.

Fan-out without a queue per stream: each stream keeps only a cursor (the last sequence it sent) and
awaits two shared futures, its environment's "changed" future (from the cache) and the heartbeat tick.
On a wake it sends the retained deltas after its cursor, each encoded once per environment and shared
by every stream (`WireCache`), or a snapshot when it fell behind the retained history. An idle stream
therefore costs one suspended coroutine and two future callbacks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import grpclib.const
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from domain.tenancy.sdk_keys import hash_sdk_key
from readmodels.definitions import DefinitionsCache, EventLog
from schemas.generated.stitchd.flags.v1 import FlagSyncServiceBase, SyncRequest, SyncResponse
from sync_broadcaster.connections import ConnectionRecorder, StreamRecord
from sync_broadcaster.wire import Encoded, WireCache
from telemetry import metrics

SDK_KEY_METADATA = "x-sdk-key"
DEFAULT_HEARTBEAT_SECONDS = 15.0
MAX_KEY_LENGTH = 512

SyncStream = Stream[SyncRequest, Any]  # sends SyncResponse or pre-encoded SyncResponse bytes


def _epoch_ms() -> int:
    return time.time_ns() // 1_000_000


class Ticker:
    """One shared heartbeat future, resolved and replaced every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._future: asyncio.Future[None] | None = None

    @property
    def future(self) -> asyncio.Future[None]:
        """The future resolved at the next tick."""
        if self._future is None or self._future.done():
            self._future = asyncio.get_running_loop().create_future()
        return self._future

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            if self._future is not None and not self._future.done():
                self._future.set_result(None)


class FlagSyncService(FlagSyncServiceBase):
    """SyncDefinitions (server streaming) and Sync (unary snapshot), authenticated by x-sdk-key."""

    def __init__(
        self,
        cache: DefinitionsCache,
        events: EventLog,
        *,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        clock: Callable[[], int] = _epoch_ms,
        recorder: ConnectionRecorder | None = None,
    ) -> None:
        self.cache = cache
        self.events = events
        self.ticker = Ticker(heartbeat_seconds)
        self.wire = WireCache(clock)
        self.open_streams = 0
        self.recorder = recorder
        self._closing: asyncio.Future[None] | None = None

    def _closing_future(self) -> asyncio.Future[None]:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        return self._closing

    def shutdown(self) -> None:
        """End every open stream with UNAVAILABLE so SDKs reconnect elsewhere at once."""
        closing = self._closing_future()
        if not closing.done():
            closing.set_result(None)

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        # Our own handlers take the grpclib stream: they need its metadata (the SDK key).
        card = grpclib.const.Cardinality
        return {
            "/stitchd.flags.v1.FlagSyncService/SyncDefinitions": grpclib.const.Handler(
                self.stream_definitions, card.UNARY_STREAM, SyncRequest, SyncResponse
            ),
            "/stitchd.flags.v1.FlagSyncService/Sync": grpclib.const.Handler(
                self.unary_sync, card.UNARY_UNARY, SyncRequest, SyncResponse
            ),
        }

    async def unary_sync(self, stream: SyncStream) -> None:
        """One snapshot of the caller's environment."""
        request = await stream.recv_message()
        env_id, _ = await self._authenticate(stream, request)
        await stream.send_message(self._snapshot(env_id))

    async def stream_definitions(self, stream: SyncStream) -> None:
        """Snapshot or missed deltas, then each change in order, heartbeats while idle; ends on revocation."""
        request = await stream.recv_message()
        env_id, key_hash = await self._authenticate(stream, request)
        record = self._record_opened(stream, env_id)
        self.open_streams += 1
        metrics.set_open_streams(self.open_streams)
        try:
            cursor = await self._open(stream, env_id, request.since_sequence if request else 0)
            self._delivered(record, cursor)
            await self._follow(stream, env_id, key_hash, cursor, record)
        finally:
            self.open_streams -= 1
            metrics.set_open_streams(self.open_streams)
            if record is not None and self.recorder is not None:
                self.recorder.closed(record)

    def _record_opened(self, stream: SyncStream, env_id: UUID) -> StreamRecord | None:
        """The stream's record (helper-ops: GET .../sdk-connections), when a recorder is configured."""
        if self.recorder is None:
            return None
        raw = stream.metadata.get(SDK_KEY_METADATA) if stream.metadata is not None else None
        owner = self.cache.key_owner(raw.strip()) if isinstance(raw, str) else None
        return self.recorder.opened(env_id, owner[1] if owner else None, stream.metadata)

    def _delivered(self, record: StreamRecord | None, cursor: int) -> None:
        if record is not None and self.recorder is not None:
            self.recorder.delivered(record, cursor)

    async def _authenticate(self, stream: SyncStream, request: SyncRequest | None) -> tuple[UUID, str]:
        raw = stream.metadata.get(SDK_KEY_METADATA) if stream.metadata is not None else None
        if not isinstance(raw, str) or not raw or len(raw) > MAX_KEY_LENGTH:
            raise GRPCError(Status.UNAUTHENTICATED, "missing x-sdk-key metadata")
        # a key issued a moment ago may not be folded yet: resolve_key catches up, rate-limited
        owner = await self.cache.resolve_key(raw.strip(), self.events)
        if owner is None:
            raise GRPCError(Status.UNAUTHENTICATED, "sdk key not found")
        env_id = owner[0]
        if request is not None and request.environment_id and request.environment_id != str(env_id):
            raise GRPCError(Status.NOT_FOUND, f"environment {request.environment_id} not found")
        return env_id, hash_sdk_key(raw.strip())

    def _snapshot(self, env_id: UUID) -> Encoded:
        snapshot = self.cache.snapshot(env_id)
        if snapshot is None:
            raise GRPCError(Status.NOT_FOUND, f"environment {env_id} not found")
        metrics.count_sync_message("snapshot")
        return self.wire.snapshot(snapshot)

    async def _open(self, stream: SyncStream, env_id: UUID, since: int) -> int:
        """The first message(s): missed deltas when `since` is retained, else a snapshot."""
        deltas = self.cache.deltas_since(env_id, since) if since > 0 else None
        if deltas is None:
            snapshot = self._snapshot(env_id)
            await stream.send_message(snapshot)
            return snapshot.sequence
        if not deltas:
            await stream.send_message(self.wire.heartbeat(env_id, since))
            return since
        return await self._send_deltas(stream, env_id, since)

    async def _follow(
        self, stream: SyncStream, env_id: UUID, key_hash: str, cursor: int, record: StreamRecord | None = None
    ) -> None:
        while True:
            changed = self.cache.changed(env_id)
            if not self.cache.key_hash_active(key_hash):
                raise GRPCError(Status.UNAUTHENTICATED, "sdk key revoked")
            if self.cache.sequence(env_id) != cursor:
                cursor = await self._send_deltas(stream, env_id, cursor)
                self._delivered(record, cursor)
                continue
            tick, closing = self.ticker.future, self._closing_future()
            await asyncio.wait((changed, tick, closing), return_when=asyncio.FIRST_COMPLETED)
            if closing.done():
                raise GRPCError(Status.UNAVAILABLE, "broadcaster shutting down")
            if not changed.done():
                await stream.send_message(self.wire.heartbeat(env_id, cursor))
                self._delivered(record, cursor)

    async def _send_deltas(self, stream: SyncStream, env_id: UUID, cursor: int) -> int:
        """Everything after `cursor` (deltas, or a snapshot if they are gone); returns the new cursor."""
        deltas = self.cache.deltas_since(env_id, cursor)
        if deltas is None:
            snapshot = self._snapshot(env_id)
            await stream.send_message(snapshot)
            return snapshot.sequence
        for delta in deltas:
            await stream.send_message(self.wire.delta(delta))
            metrics.count_sync_message("delta")
            cursor = delta.sequence
        return cursor

    async def run_heartbeats(self) -> None:
        """The shared heartbeat tick; run it beside the server until cancelled."""
        await self.ticker.run()
