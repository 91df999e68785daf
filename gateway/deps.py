"""The gateway's collaborators, built once by the process's composition root and injected into create_app."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from psycopg_pool import AsyncConnectionPool

from commands.bus import Bus
from commands.vault import IdentityVault
from domain.quotas import DEFAULT_QUOTAS, Quotas
from gateway.auth.addresses import TrustedProxies
from gateway.auth.passwords import Passwords
from gateway.auth.refresh import RefreshTokens
from gateway.auth.throttle import LoginThrottle
from gateway.auth.tokens import TokenSettings
from gateway.exposure_buffer import DEFAULT_MAX_PENDING
from gateway.ratelimit import LimitSettings
from gateway.saml.metadata import MetadataCache
from gateway.saml.settings import SamlSettings
from gateway.sso.jwks import OidcCache
from gateway.sso.secrets import SecretBox, derive_key
from gateway.sso.settings import SsoSettings
from readmodels.checkpoints import CheckpointWatcher
from readmodels.definitions import EventLogReader
from readmodels.definitions_history import DEFAULT_HISTORY_BYTES
from readmodels.vault import PostgresVault
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
    exposure_buffer_max: int = DEFAULT_MAX_PENDING  # server-side exposures queued for the sink
    definition_history_bytes: int = DEFAULT_HISTORY_BYTES  # deltas kept for since_sequence, all envs
    # whose X-Forwarded-For the login throttle and rate limiter believe
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)


@dataclass(frozen=True, kw_only=True)
class GatewayDeps:
    """Everything a route may need; `db` is the read pool over the rm_* tables."""

    event_log: EventLogReader  # read-only: the SDK readers' DefinitionsCache fold and the position clamp
    bus: Bus  # every write goes through it (commands.bus.CommandBus)
    db: AsyncConnectionPool[Any]
    clock: Callable[[], datetime]
    tokens: TokenSettings
    waiter: PositionWaiter
    refresh_tokens: RefreshTokens
    passwords: Passwords = field(default_factory=Passwords)
    throttle: LoginThrottle | None = None
    settings: GatewaySettings = field(default_factory=GatewaySettings)
    ingest: IngestPublisher | None = None  # helper-ingest: None = ingestion not configured (502)
    quotas: Quotas = DEFAULT_QUOTAS  # what each organisation may create (settings: STITCHD_QUOTA_*)
    vault: IdentityVault | None = None  # helper-auth: None = the vault tables behind `db`
    sso: SsoSettings = field(default_factory=SsoSettings)  # issue 13: STITCHD_SSO_* settings
    oidc: OidcCache | None = None  # issuers' discovery and keys; None = one per deps object
    saml: SamlSettings = field(default_factory=SamlSettings)  # issue 13 part 3: STITCHD_SAML_* settings
    saml_metadata: MetadataCache | None = None  # IdP metadata fetched by URL; None = one per deps object

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

    def identity_vault(self) -> IdentityVault:
        """Password hashes and personal-data keys (readmodels.vault): the one given, else over `db`."""
        if self.vault is None:
            object.__setattr__(self, "vault", PostgresVault(self.db))
        assert self.vault is not None
        return self.vault

    def secret_box(self) -> SecretBox:
        """Seals provider secrets: STITCHD_SSO_SECRET_KEY, else a key derived from the JWT secret."""
        return SecretBox(self.sso.secret_key or derive_key(self.tokens.secret))

    def oidc_cache(self) -> OidcCache:
        """The cache given, else one per deps object (one gateway process = one cache)."""
        if self.oidc is None:
            object.__setattr__(self, "oidc", OidcCache())
        assert self.oidc is not None
        return self.oidc

    def saml_metadata_cache(self) -> MetadataCache:
        """The cache given, else one per deps object (one gateway process = one cache)."""
        if self.saml_metadata is None:
            cache = MetadataCache(cache_seconds=self.saml.metadata_cache_seconds)
            object.__setattr__(self, "saml_metadata", cache)
        assert self.saml_metadata is not None
        return self.saml_metadata

    def login_throttle(self) -> LoginThrottle:
        """The throttle given, else one per deps object (one gateway process = one set of buckets)."""
        if self.throttle is None:
            object.__setattr__(self, "throttle", LoginThrottle(clock=self.clock))
        assert self.throttle is not None
        return self.throttle


class PoolWaiter(CheckpointWatcher):
    """PositionWaiter over the projection checkpoints: every waiter of the process shares one borrowed
    connection (LISTEN/NOTIFY with a polling fallback) and an in-process notification, so waiting
    requests never hold a pooled connection each (readmodels.checkpoints).

    `names`: every projection NAME the gateway reads (None: whichever have a checkpoint row yet).
    """
