"""Settings from environment variables (DESIGN section 11); read only when a process starts."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar


class SettingsError(ValueError):
    """A setting is malformed; the message names it."""


@dataclass(frozen=True, kw_only=True)
class RateLimitSettings:
    """Seed 004's token buckets (per credential and per source IP) and the gateway's concurrency cap."""

    credential_enabled: bool = True  # FLAGS_RATE_LIMIT_ENABLED
    credential_capacity: float = 500  # FLAGS_BUCKET_CAPACITY
    credential_per_second: float = 10.0  # FLAGS_BUCKET_REPLENISH_RATE
    ip_enabled: bool = True  # FLAGS_IP_RATE_LIMIT_ENABLED
    ip_capacity: float = 1000  # FLAGS_IP_BURST_SIZE
    ip_per_second: float = 50.0  # FLAGS_IP_REPLENISH_RATE
    log_only: bool = False  # FLAGS_RATE_LIMIT_LOG_ONLY
    max_concurrency: int = 1000  # MAX_CONCURRENCY; 0 = no cap

    @staticmethod
    def from_env(e: Mapping[str, str]) -> RateLimitSettings:
        return RateLimitSettings(
            credential_enabled=_bool(e, "FLAGS_RATE_LIMIT_ENABLED", True),
            credential_capacity=_number(e, "FLAGS_BUCKET_CAPACITY", 500, float, low=1),
            credential_per_second=_number(e, "FLAGS_BUCKET_REPLENISH_RATE", 10.0, float, low=1e-6),
            ip_enabled=_bool(e, "FLAGS_IP_RATE_LIMIT_ENABLED", True),
            ip_capacity=_number(e, "FLAGS_IP_BURST_SIZE", 1000, float, low=1),
            ip_per_second=_number(e, "FLAGS_IP_REPLENISH_RATE", 50.0, float, low=1e-6),
            log_only=_bool(e, "FLAGS_RATE_LIMIT_LOG_ONLY", False),
            max_concurrency=_number(e, "MAX_CONCURRENCY", 1000, int, low=0),
        )


@dataclass(frozen=True)
class Settings:
    """Process settings; `None` URLs mean "use the embedded server"."""

    database_url: str | None = None
    nats_url: str | None = None
    clickhouse_url: str | None = None
    http_port: int = 8080
    grpc_port: int = 50050
    nats_port: int = 4222  # the embedded nats-server's (STITCHD_NATS_PORT), unused with NATS_URL
    jwt_secret: str | None = field(default=None, repr=False)
    app_env: str = "development"
    log_level: str = "INFO"
    data_dir: Path = Path(".stitchd")
    # --- operability (helper-ops): probes, metrics, rate limits ---------------------------------------
    admin_port: int | None = None  # STITCHD_ADMIN_PORT (9100 from the environment); None: no admin server
    enable_metrics: bool = True
    max_flag_series: int = 10_000
    rate_limit: RateLimitSettings = field(default_factory=lambda: RateLimitSettings())
    trusted_proxies: tuple[str, ...] = ()  # STITCHD_TRUSTED_PROXIES: addresses / CIDRs of proxies

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from the environment (or the mapping given)."""
        e = os.environ if env is None else env
        return Settings(
            database_url=e.get("DATABASE_URL") or None,
            nats_url=e.get("NATS_URL") or None,
            clickhouse_url=e.get("CLICKHOUSE_URL") or None,
            http_port=_port(e, "HTTP_PORT", 8080),
            grpc_port=_port(e, "GRPC_PORT", 50050),
            nats_port=_port(e, "STITCHD_NATS_PORT", 4222),
            jwt_secret=e.get("STITCHD_JWT_SECRET") or None,
            app_env=e.get("APP_ENV", "development"),
            log_level=e.get("LOG_LEVEL", "INFO").upper(),
            data_dir=Path(e.get("STITCHD_DATA_DIR", ".stitchd")),
            admin_port=_admin_port(e),
            enable_metrics=_bool(e, "ENABLE_METRICS", True),
            max_flag_series=_number(e, "STITCHD_METRICS_MAX_FLAG_SERIES", 10_000, int),
            rate_limit=RateLimitSettings.from_env(e),
            trusted_proxies=_networks(e, "STITCHD_TRUSTED_PROXIES"),
        )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{name} must be between 0 and 65535, got {port}")
    return port


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
DEFAULT_ADMIN_PORT = 9100


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


N = TypeVar("N", int, float)


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N], *, low: float = 1) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < low or value != value:
        raise SettingsError(f"{name} must be at least {low:g}, got {raw!r}")
    return value


def _admin_port(env: Mapping[str, str]) -> int | None:
    """STITCHD_ADMIN_PORT: a port, 0 for free ports, `off` for no admin server; default 9100."""
    if env.get("STITCHD_ADMIN_PORT", "").strip().lower() == "off":
        return None
    return _port(env, "STITCHD_ADMIN_PORT", DEFAULT_ADMIN_PORT)


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR networks, each checked."""
    items = tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an address or network") from None
    return items
