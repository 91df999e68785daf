"""Public value types of the SDK: options, evaluation details, status and sync updates."""

from __future__ import annotations

import enum
import os
import ssl
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx
import msgspec

from domain.flags.model import ErrorCode, Reason

T = TypeVar("T")


class SdkError(Exception):
    """The SDK could not start or was used after close."""


class SdkState(enum.StrEnum):
    """`fresh`: a message arrived within the grace period; `stale`: connected but silent for longer;
    `disconnected`: no open sync stream (starting, reconnecting or closed); `refused`: the broadcaster
    refuses the SDK key (revoked since start): the last definitions are served, reconnects go on;
    `cached`: started from the durable cache or a bootstrap file, no stream message since;
    `offline`: offline mode, the bootstrap file's definitions only."""

    FRESH = "fresh"
    STALE = "stale"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"
    CACHED = "cached"  # serving a definitions file (the cache or a bootstrap); no stream message yet
    OFFLINE = "offline"  # `SdkOptions.offline`: the bootstrap file only, no stream, no network


@dataclass(frozen=True)
class Status:
    """Where the SDK's definitions stand; `last_sequence` is the last applied definition sequence."""

    state: SdkState
    last_sequence: int
    seconds_since_message: float | None
    environment_id: str
    reconnects: int


class EvaluationDetails(msgspec.Struct, Generic[T], frozen=True):
    """A typed evaluation: on any error `value` is the caller's default and `error_code` says why."""

    value: T
    variant_key: str | None
    reason: Reason
    rule_id: str | None = None
    error_code: ErrorCode | None = None
    sequence: int = 0


@dataclass(frozen=True)
class SyncUpdate:
    """One applied sync message (snapshot or delta), as reported to listeners."""

    sequence: int
    is_snapshot: bool
    upserted_flag_keys: tuple[str, ...]
    removed_flag_keys: tuple[str, ...]
    upserted_segment_keys: tuple[str, ...]
    removed_segment_keys: tuple[str, ...]
    changed_list_segment_keys: tuple[str, ...]


@dataclass(frozen=True)
class TrackingStats:
    """Counters of the event pipeline: `dropped` were lost to a full buffer or a refused batch,
    `rejected` were refused by metric key (not registered in the environment, or mistyped)."""

    queued: int
    sent: int
    dropped: int
    failed_flushes: int
    rejected: int = 0


@dataclass(frozen=True)
class SdkOptions:
    """Tunables; the defaults suit a server process. Transports exist so tests can fake the REST side."""

    environment_id: str = ""
    connect_timeout_s: float = 10.0
    stale_after_s: float = 30.0  # no message (heartbeat included) for this long -> stale
    idle_reconnect_s: float = 90.0  # no message for this long -> drop the stream and reconnect
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    cache_capacity: int = 10_000
    send_exposures: bool = True
    exposure_dedup_window_s: float = 600.0
    exposure_dedup_capacity: int = 100_000
    flush_interval_s: float = 5.0
    flush_max_events: int = 500
    max_buffered_events: int = 10_000
    http_timeout_s: float = 5.0
    # gRPC TLS: an https:// or grpcs:// URL verifies against the system trust store; a CA file (PEM) or
    # a ready SSLContext trusts a private CA and turns TLS on whatever the URL's scheme.
    grpc_ca_file: str | None = None
    grpc_ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    http_transport: httpx.BaseTransport | None = field(default=None, repr=False)
    async_http_transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    # Definitions on disk (docs/sdk.md): the durable cache (None: none), a bootstrap document
    # (`stitchd export`), offline mode (the bootstrap only: no stream, nothing sent), and how long a
    # start with definitions from a file waits for the stream before serving them.
    cache_dir: str | None = field(default_factory=lambda: default_cache_dir())
    cache_max_bytes: int = 64 << 20
    bootstrap_path: str | None = None
    offline: bool = False
    file_start_wait_s: float = 1.0


def default_cache_dir() -> str:
    """`$XDG_CACHE_HOME/stitchd`, else `~/.cache/stitchd` (read when options are made, not at import)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "stitchd")
