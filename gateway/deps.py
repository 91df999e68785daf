"""The gateway's collaborators, built once by the process's composition root and injected into create_app."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from psycopg_pool import AsyncConnectionPool

from commands.eventstore import EventStore
from gateway.auth.passwords import Passwords
from gateway.auth.refresh import RefreshTokens
from gateway.auth.throttle import LoginThrottle
from gateway.auth.tokens import TokenSettings
from gateway.ratelimit import LimitSettings
from readmodels.db import wait_for_position
from schemas.ingest import ExposureMsg, IngestMsg

log = logging.getLogger(__name__)
DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_WRITE_WAIT_SECONDS = 5.0


@runtime_checkable
class PositionWaiter(Protocol):
    """Waits until every projection has applied the event store `position`; False on timeout."""

    async def __call__(self, position: int, within: float) -> bool: ...


# --- ingest (helper-ingest): the port of gateway/exposures.py's JetStreamIngest -----------------------
@runtime_checkable
class IngestPublisher(Protocol):
    """Publishes ingest messages to JetStream and returns once every one is acknowledged."""

    async def publish(self, messages: Sequence[IngestMsg]) -> None: ...

    async def record(self, exposure: ExposureMsg) -> None:
        """The evaluate route's ExposureSink: publish one exposure."""
        ...


# --- end ingest -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GatewaySettings:
    """Gateway knobs that are not secrets' sources: limits and read-your-writes bounds."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    write_wait_seconds: float = DEFAULT_WRITE_WAIT_SECONDS
    debug: bool = False
    limits: LimitSettings = field(default_factory=LimitSettings)  # helper-ops: rate limits, load shedding
    trusted_proxies: tuple[str, ...] = ()  # STITCHD_TRUSTED_PROXIES: whose X-Forwarded-For is believed


@dataclass(frozen=True, kw_only=True)
class GatewayDeps:
    """Everything a route may need; `db` is the read pool over the rm_* tables."""

    store: EventStore
    db: AsyncConnectionPool[Any]
    clock: Callable[[], datetime]
    tokens: TokenSettings
    waiter: PositionWaiter
    refresh_tokens: RefreshTokens
    passwords: Passwords = field(default_factory=Passwords)
    throttle: LoginThrottle | None = None
    settings: GatewaySettings = field(default_factory=GatewaySettings)
    ingest: IngestPublisher | None = None  # helper-ingest: None = ingestion not configured (502)

    @property
    def exposures(self) -> IngestPublisher | None:
        """The ExposureSink server-side evaluations report to (gateway/evaluate.py looks it up)."""
        return self.ingest

    async def settle(self, position: int) -> int:
        """Wait (bounded) until the projections applied `position`: the caller's next read sees its write."""
        within = self.settings.write_wait_seconds
        if position > 0 and not await self.waiter(position, within):
            # Still correct, only not yet visible: the client can retry with X-Stitchd-Min-Position.
            log.warning("read models did not reach position %d within %.1f s", position, within)
        return position

    def login_throttle(self) -> LoginThrottle:
        """The throttle given, else one per deps object (one gateway process = one set of buckets)."""
        if self.throttle is None:
            object.__setattr__(self, "throttle", LoginThrottle(clock=self.clock))
        assert self.throttle is not None
        return self.throttle


class PoolWaiter:
    """PositionWaiter over the read pool's projection checkpoints (LISTEN/NOTIFY with a polling fallback)."""

    def __init__(self, pool: AsyncConnectionPool[Any], names: Sequence[str] | None = None) -> None:
        """`names`: every projection NAME the gateway reads (None: whichever have a checkpoint row yet)."""
        self._pool = pool
        self._names = list(names) if names is not None else None

    async def __call__(self, position: int, within: float) -> bool:
        return await wait_for_position(self._pool, position, within, names=self._names)
