"""HTTP shapes of GET /v1/environments/{env}/sdk-connections."""

from __future__ import annotations

from datetime import datetime

import msgspec


class SdkConnectionView(msgspec.Struct, frozen=True, kw_only=True):
    """One SDK sync stream. `state`: live, closed, or lost (its broadcaster stopped reporting it).
    `sequence`: the definitions sequence it served; `lag`: how far (in store positions) behind the
    environment's sequence; `lag_seconds`: since the first change it has not received was committed;
    `stale`: lag_seconds exceeds the SDK's stale grace while live (None when unknown)."""

    stream_id: str
    sdk_key_id: str | None
    instance_id: str
    sdk_version: str
    broadcaster: str
    opened_at: datetime
    closed_at: datetime | None
    last_message_at: datetime | None
    state: str
    sequence: int | None
    lag: int | None
    lag_seconds: float | None
    stale: bool | None


class SdkConnectionList(msgspec.Struct, frozen=True, kw_only=True):
    environment_sequence: int | None
    at: datetime
    stale_after_seconds: float
    connections: list[SdkConnectionView]
