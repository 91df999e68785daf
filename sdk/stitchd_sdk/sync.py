"""The definition-sync loop: one SyncDefinitions stream at a time, reconnecting with backoff.

Each (re)connect sends `since_sequence` = the last applied sequence, so a broadcaster that still
retains the history answers with exactly the missed deltas; otherwise it sends a snapshot. A stream
silent for `idle_reconnect_s` (not even a heartbeat) is dropped and reopened. Any error, expected or
not, ends only the current stream: the loop logs it and reconnects with backoff until cancelled.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import random
import ssl
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import cast
from urllib.parse import urlsplit

from grpclib.client import Channel
from grpclib.const import Status as GrpcStatus
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from schemas.generated.stitchd.flags import v1 as flags_pb
from stitchd_sdk.store import DefinitionStore
from stitchd_sdk.types import SdkError, SdkOptions, SdkState, Status, SyncUpdate

log = logging.getLogger("stitchd_sdk")

_RETRYABLE = (GRPCError, ProtocolError, StreamTerminatedError, OSError, TimeoutError)
_AUTH_FAILURES = (GrpcStatus.UNAUTHENTICATED, GrpcStatus.PERMISSION_DENIED, GrpcStatus.NOT_FOUND)


def parse_grpc_url(url: str) -> tuple[str, int, bool]:
    """`host:port`, `http://host:port` or `https://host:port` -> (host, port, tls)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    tls = parts.scheme in ("https", "grpcs")
    if not parts.hostname:
        raise ValueError(f"no host in gRPC address {url!r}")
    return parts.hostname, parts.port or (443 if tls else 50050), tls


def sdk_version() -> str:
    """`python/<version of the installed stitchd distribution>` ("python/unknown" from a source tree)."""
    try:
        return "python/" + importlib.metadata.version("stitchd")
    except importlib.metadata.PackageNotFoundError:
        return "python/unknown"


def grpc_tls(options: SdkOptions, url_says_tls: bool) -> ssl.SSLContext | bool | None:
    """The channel's TLS: the options' context or CA file, else the system trust store for a TLS URL."""
    context = options.grpc_ssl_context
    if context is None and options.grpc_ca_file is not None:
        context = ssl.create_default_context(cafile=options.grpc_ca_file)
    if context is not None:
        context.set_alpn_protocols(["h2"])
        return context
    return True if url_says_tls else None


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff with jitter: in [d/2, d] for d = min(maximum, initial * 2**attempt)."""
    ceiling = min(maximum, initial * 2.0 ** min(attempt, 30))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class SyncLoop:
    """Keeps `store` current from the broadcaster and knows how fresh it is."""

    def __init__(
        self,
        grpc_url: str,
        sdk_key: str,
        store: DefinitionStore,
        options: SdkOptions,
        on_update: Callable[[SyncUpdate], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host, self._port, self._tls = parse_grpc_url(grpc_url)
        # The instance id and version let operators see which SDK serves which definitions
        # (GET /v1/environments/{env}/sdk-connections); one instance id per loop, kept across reconnects.
        self.instance_id = uuid.uuid4().hex
        self._metadata = {
            "x-sdk-key": sdk_key,
            "x-sdk-instance-id": self.instance_id,
            "x-sdk-version": sdk_version(),
        }
        self._store = store
        self._options = options
        self._on_update = on_update
        self._clock = clock
        self._connected = False
        self._last_message_at: float | None = None
        self.reconnects = 0
        self._want_snapshot = False  # after a message that could not be applied: start over
        self.ready = asyncio.Event()  # set by the first snapshot, or by a fatal start-up error
        self.fatal: SdkError | None = None

    def status(self) -> Status:
        """fresh / stale / disconnected, with the last applied sequence."""
        now = self._clock()
        age = None if self._last_message_at is None else now - self._last_message_at
        if not self._connected:
            state = SdkState.DISCONNECTED
        elif age is not None and age <= self._options.stale_after_s:
            state = SdkState.FRESH
        else:
            state = SdkState.STALE
        current = self._store.current
        return Status(state, current.sequence, age, current.environment_id, self.reconnects)

    async def run(self) -> None:
        """Stream, reconnect, repeat; until cancelled."""
        attempt = 0
        while True:
            received = False
            try:
                received = await self._stream_once()
            except _RETRYABLE as exc:
                self._on_failure(exc)
            except Exception:  # a message it cannot apply, a bug: reconnect for a snapshot, never die
                log.exception("definition sync failed; reconnecting for a fresh snapshot")
                self._want_snapshot = True
            finally:
                self._connected = False
            attempt = 0 if received else attempt + 1
            self.reconnects += 1
            options = self._options
            await asyncio.sleep(backoff_delay(attempt, options.backoff_initial_s, options.backoff_max_s))

    async def _stream_once(self) -> bool:
        """One stream until it ends; whether any message arrived on it."""
        since = 0 if self._want_snapshot else self._store.sequence
        request = flags_pb.SyncRequest(environment_id=self._options.environment_id, since_sequence=since)
        channel = Channel(self._host, self._port, ssl=grpc_tls(self._options, self._tls))
        received = False
        try:
            stub = flags_pb.FlagSyncServiceStub(channel, metadata=self._metadata)
            stream = cast(AsyncGenerator[flags_pb.SyncResponse, None], stub.sync_definitions(request))
            try:
                while True:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel racing a timeout.
                    async with asyncio.timeout(self._options.idle_reconnect_s):
                        msg = await anext(stream)
                    received = True
                    self._on_message(msg)
            except StopAsyncIteration:
                return received
            finally:
                await stream.aclose()
        finally:
            channel.close()

    def _on_message(self, msg: flags_pb.SyncResponse) -> None:
        self._connected = True
        self._last_message_at = self._clock()
        update = self._store.apply(msg)
        if msg.is_snapshot:
            self._want_snapshot = False
        if update is not None:
            self._on_update(update)
        if self._store.has_snapshot:
            self.ready.set()

    def _on_failure(self, exc: BaseException) -> None:
        if isinstance(exc, GRPCError) and exc.status in _AUTH_FAILURES and not self._store.has_snapshot:
            self.fatal = SdkError(f"the broadcaster refused this SDK key: {exc.status.name}")
            self.ready.set()
        log.warning("definition sync interrupted (%s); reconnecting", type(exc).__name__)
