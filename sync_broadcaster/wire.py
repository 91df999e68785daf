"""SyncResponse messages built from the cache's snapshots and deltas, encoded once and shared by streams.

Every stream of an environment sends the same bytes for the same sequence, so messages are encoded
once (`WireCache`) and handed to grpclib pre-encoded (`Encoded`, passed through by `WireCodec`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from grpclib.encoding.proto import ProtoCodec

from readmodels.definitions import Delta, Snapshot
from schemas.definitions_document import snapshot_of_definitions
from schemas.flag_wire import flag_to_proto, list_segment_meta_to_proto, rule_segment_to_proto
from schemas.generated.stitchd.flags.v1 import SyncResponse
from sync_broadcaster.requests import decode_request

Clock = Callable[[], int]  # epoch milliseconds


class Encoded:
    """A SyncResponse already serialised; `WireCodec` sends its bytes as they are."""

    __slots__ = ("data", "sequence")

    def __init__(self, data: bytes, sequence: int) -> None:
        self.data = data
        self.sequence = sequence


class WireCodec(ProtoCodec):
    """grpclib's protobuf codec, passing `Encoded` messages through without re-encoding and refusing
    request bytes that are not protobuf (INVALID_ARGUMENT)."""

    def decode(self, data: bytes, message_type: Any) -> Any:
        if not hasattr(message_type, "parse"):  # google.protobuf messages (grpc.health.v1): strict already
            return super().decode(data, message_type)
        return decode_request(data, message_type)

    def encode(self, message: Any, message_type: Any) -> bytes:
        if isinstance(message, Encoded):
            return message.data
        data: bytes = super().encode(message, message_type)
        return data


def snapshot_message(snapshot: Snapshot, now_ms: int) -> SyncResponse:
    """A full snapshot: replaces everything the SDK holds."""
    return snapshot_of_definitions(
        environment_id=snapshot.environment_id,
        sequence=snapshot.sequence,
        flags=snapshot.flags,
        rule_segments=snapshot.rule_segments,
        list_segments=snapshot.list_segments,
        server_timestamp_ms=now_ms,
    )


def delta_message(delta: Delta, now_ms: int) -> SyncResponse:
    """One incremental change."""
    return SyncResponse(
        flags=[flag_to_proto(f) for f in delta.flags],
        rule_segments=[rule_segment_to_proto(s) for s in delta.rule_segments],
        list_segments=[list_segment_meta_to_proto(s) for s in delta.list_segments],
        environment_id=str(delta.environment_id),
        sequence_number=delta.sequence,
        removed_flag_keys=list(delta.removed_flag_keys),
        removed_segment_keys=list(delta.removed_segment_keys),
        changed_list_segment_keys=list(delta.changed_list_segment_keys),
        server_timestamp_ms=now_ms,
    )


def heartbeat_message(environment_id: UUID, sequence: int, now_ms: int) -> SyncResponse:
    """Nothing changed; carries the current sequence so an SDK can tell quiet from stale."""
    return SyncResponse(
        environment_id=str(environment_id),
        sequence_number=sequence,
        is_heartbeat=True,
        server_timestamp_ms=now_ms,
    )


class WireCache:
    """Encoded snapshots and deltas by (environment, sequence); bounded, oldest dropped first."""

    def __init__(self, clock: Clock, delta_limit: int = 10_000, snapshot_limit: int = 64) -> None:
        self._clock = clock
        self._limits = {"delta": delta_limit, "snapshot": snapshot_limit}
        self._deltas: dict[tuple[UUID, int], Encoded] = {}
        self._snapshots: dict[tuple[UUID, int], Encoded] = {}

    def delta(self, delta: Delta) -> Encoded:
        """The encoded delta (encoded on first use)."""
        key = (delta.environment_id, delta.sequence)
        found = self._deltas.get(key)
        if found is None:
            data = bytes(delta_message(delta, self._clock()))
            found = self._remember(self._deltas, key, Encoded(data, delta.sequence), "delta")
        return found

    def snapshot(self, snapshot: Snapshot) -> Encoded:
        """The encoded snapshot (encoded once per environment and sequence)."""
        key = (snapshot.environment_id, snapshot.sequence)
        found = self._snapshots.get(key)
        if found is None:
            data = bytes(snapshot_message(snapshot, self._clock()))
            found = self._remember(self._snapshots, key, Encoded(data, snapshot.sequence), "snapshot")
        return found

    def heartbeat(self, environment_id: UUID, sequence: int) -> Encoded:
        """A fresh heartbeat (its timestamp is now)."""
        return Encoded(bytes(heartbeat_message(environment_id, sequence, self._clock())), sequence)

    def _remember(
        self, store: dict[tuple[UUID, int], Encoded], key: tuple[UUID, int], value: Encoded, kind: str
    ) -> Encoded:
        store[key] = value
        if len(store) > self._limits[kind]:
            del store[next(iter(store))]
        return value
