"""JetStream stream definitions from deploy/nats/streams.json, applied idempotently at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from domain.envelope import EVENTS_STREAM, POSITION_HEADER, event_subject
from schemas.dead_letters import DLQ_STREAM
from schemas.ingest import INGEST_STREAM

STREAMS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "nats" / "streams.json"

__all__ = [
    "DLQ_STREAM",
    "EVENTS_STREAM",
    "INGEST_STREAM",
    "POSITION_HEADER",
    "STREAMS_FILE",
    "ensure_streams",
    "event_subject",
    "stream_configs",
]  # the names are their owners' (domain.envelope, schemas.ingest, schemas.dead_letters)


def stream_configs(path: Path = STREAMS_FILE) -> list[StreamConfig]:
    """The configured streams as nats-py configs."""
    spec: dict[str, Any] = json.loads(path.read_text())
    return [_config(s) for s in spec["streams"]]


def _config(s: dict[str, Any]) -> StreamConfig:
    return StreamConfig(
        name=s["name"],
        subjects=list(s["subjects"]),
        retention=RetentionPolicy(s.get("retention", "limits")),
        storage=StorageType(s.get("storage", "file")),
        max_age=float(s.get("max_age_seconds", 0)),
        max_bytes=int(s.get("max_bytes", -1)),
        duplicate_window=float(s.get("duplicate_window_seconds", 120)),
        description=s.get("description"),
    )


async def ensure_streams(js: JetStreamContext, path: Path = STREAMS_FILE) -> None:
    """Create each stream, or update it to the configured definition."""
    for config in stream_configs(path):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
