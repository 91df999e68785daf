"""JetStream stream definitions from deploy/nats/streams.json, applied idempotently at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

STREAMS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "nats" / "streams.json"
EVENTS_STREAM = "STITCHD_EVENTS"
INGEST_STREAM = "STITCHD_INGEST"
DLQ_STREAM = "STITCHD_DLQ"
POSITION_HEADER = "Stitchd-Position"


def event_subject(stream_type: str, environment_id: str | None) -> str:
    """Subject of a domain event: stitchd.events.<stream_type>.<environment or _>."""
    return f"stitchd.events.{stream_type}.{environment_id or '_'}"


def stream_configs(path: Path = STREAMS_FILE, *, replicas: int | None = None) -> list[StreamConfig]:
    """The configured streams as nats-py configs; `replicas` (STITCHD_NATS_REPLICAS) overrides the
    file's `replicas` for every stream (a 3-node cluster runs them at 3)."""
    spec: dict[str, Any] = json.loads(path.read_text())
    return [_config(s, replicas) for s in spec["streams"]]


def _config(s: dict[str, Any], replicas: int | None) -> StreamConfig:
    return StreamConfig(
        name=s["name"],
        subjects=list(s["subjects"]),
        retention=RetentionPolicy(s.get("retention", "limits")),
        storage=StorageType(s.get("storage", "file")),
        max_age=float(s.get("max_age_seconds", 0)),
        max_bytes=int(s.get("max_bytes", -1)),
        duplicate_window=float(s.get("duplicate_window_seconds", 120)),
        num_replicas=replicas or int(s.get("replicas", 1)),
        description=s.get("description"),
    )


async def ensure_streams(
    js: JetStreamContext, path: Path = STREAMS_FILE, *, replicas: int | None = None
) -> None:
    """Create each stream, or update it to the configured definition (replicas included)."""
    for config in stream_configs(path, replicas=replicas):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
