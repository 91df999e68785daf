"""Settings from environment variables (DESIGN section 11); read only when a process starts."""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from domain.quotas import DEFAULT_QUOTAS as Q
from gateway.exposure_buffer import DEFAULT_MAX_PENDING
from readmodels.definitions_history import DEFAULT_HISTORY_BYTES


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
class Limits:
    """Memory bounds and per-organisation quotas (issue 9 item 13); see docs/running.md."""

    exposure_buffer_max: int = DEFAULT_MAX_PENDING
    definition_history_bytes: int = DEFAULT_HISTORY_BYTES
    projects_per_org: int = Q.projects_per_org
    environments_per_org: int = Q.environments_per_org
    flags_per_org: int = Q.flags_per_org
    segments_per_org: int = Q.segments_per_org
    sdk_keys_per_environment: int = Q.sdk_keys_per_environment
    members_per_segment: int = Q.members_per_segment

    @staticmethod
    def from_env(env: Mapping[str, str]) -> Limits:
        """Each limit from its STITCHD_* variable, else its default."""
        d = Limits()
        return Limits(
            exposure_buffer_max=_count(env, "STITCHD_EXPOSURE_BUFFER_MAX", d.exposure_buffer_max),
            definition_history_bytes=_count(
                env, "STITCHD_DEFINITION_HISTORY_BYTES", d.definition_history_bytes
            ),
            projects_per_org=_count(env, "STITCHD_QUOTA_PROJECTS_PER_ORG", d.projects_per_org),
            environments_per_org=_count(env, "STITCHD_QUOTA_ENVIRONMENTS_PER_ORG", d.environments_per_org),
            flags_per_org=_count(env, "STITCHD_QUOTA_FLAGS_PER_ORG", d.flags_per_org),
            segments_per_org=_count(env, "STITCHD_QUOTA_SEGMENTS_PER_ORG", d.segments_per_org),
            sdk_keys_per_environment=_count(
                env, "STITCHD_QUOTA_SDK_KEYS_PER_ENVIRONMENT", d.sdk_keys_per_environment
            ),
            members_per_segment=_count(env, "STITCHD_QUOTA_MEMBERS_PER_SEGMENT", d.members_per_segment),
        )


@dataclass(frozen=True)
class Settings:
    """Process settings; `None` URLs mean "use the embedded server"."""

    database_url: str | None = None
    nats_url: str | None = None
    clickhouse_url: str | None = None
    http_port: int = 8080
    grpc_port: int = 50050
    grpc_max_concurrent_streams: int = 100  # HTTP/2 streams per gRPC connection (STITCHD_GRPC_MAX_STREAMS)
    nats_port: int = 4222  # the embedded nats-server's (STITCHD_NATS_PORT), unused with NATS_URL
    nats_replicas: int | None = None  # STITCHD_NATS_REPLICAS: every stream's replicas (None: streams.json)
    jwt_secret: str | None = field(default=None, repr=False)
    app_env: str = "development"
    log_level: str = "INFO"
    data_dir: Path = Path(".stitchd")
    limits: Limits = field(default_factory=Limits)
    # TLS certificate pairs (PEM files): the embedded nats-server's and the broadcaster's gRPC listener's
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    grpc_tls_cert: Path | None = None
    grpc_tls_key: Path | None = None
    # --- identity/auth (issue 9) ---
    trusted_proxies: str = ""  # STITCHD_TRUSTED_PROXIES: IPs/CIDRs whose X-Forwarded-For counts
    password_hash_concurrency: int = 4  # STITCHD_PASSWORD_HASH_CONCURRENCY: argon2 hashings at once
    session_max_age_hours: int = 720  # STITCHD_SESSION_MAX_AGE_HOURS: absolute lifetime of a login session
    # --- SAML login (issue 13, part 3; gateway/saml) ---
    saml_clock_skew_seconds: int = 60  # STITCHD_SAML_CLOCK_SKEW_SECONDS: NotBefore/NotOnOrAfter slack
    saml_max_response_bytes: int = 262_144  # STITCHD_SAML_MAX_RESPONSE_BYTES: decoded SAMLResponse bound
    saml_metadata_cache_seconds: int = 3600  # STITCHD_SAML_METADATA_CACHE_SECONDS: IdP metadata by URL
    # --- operability (helper-ops): probes, metrics, rate limits ---------------------------------------
    admin_port: int | None = None  # STITCHD_ADMIN_PORT (9100 from the environment); None: no admin server
    enable_metrics: bool = True
    max_flag_series: int = 10_000
    rate_limit: RateLimitSettings = field(default_factory=lambda: RateLimitSettings())
    # --- single sign-on (issue 13) ---
    sso_secret_key: bytes | None = field(default=None, repr=False)  # STITCHD_SSO_SECRET_KEY (base64, 32 B)
    sso_allow_private_idp: bool = False  # STITCHD_SSO_ALLOW_PRIVATE_IDP: IdPs on non-public addresses
    sso_require_https: bool = True  # STITCHD_SSO_REQUIRE_HTTPS: issuer URLs must be https
    sso_public_url: str = "http://localhost:8080"  # STITCHD_SSO_PUBLIC_URL: this gateway, as IdPs see it
    sso_http_timeout_seconds: int = 5  # STITCHD_SSO_HTTP_TIMEOUT_SECONDS: each request to an IdP
    sso_state_ttl_seconds: int = 600  # STITCHD_SSO_STATE_TTL_SECONDS: a login must finish within it

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
            grpc_max_concurrent_streams=_count(e, "STITCHD_GRPC_MAX_STREAMS", 100),
            nats_port=_port(e, "STITCHD_NATS_PORT", 4222),
            nats_replicas=_replicas(e),
            jwt_secret=e.get("STITCHD_JWT_SECRET") or None,
            app_env=e.get("APP_ENV", "development"),
            log_level=e.get("LOG_LEVEL", "INFO").upper(),
            data_dir=Path(e.get("STITCHD_DATA_DIR", ".stitchd")),
            limits=Limits.from_env(e),
            **_pair(e, "STITCHD_NATS_TLS", "nats_tls"),
            **_pair(e, "STITCHD_GRPC_TLS", "grpc_tls"),
            trusted_proxies=_networks(e, "STITCHD_TRUSTED_PROXIES"),
            password_hash_concurrency=_count(e, "STITCHD_PASSWORD_HASH_CONCURRENCY", 4),
            session_max_age_hours=_count(e, "STITCHD_SESSION_MAX_AGE_HOURS", 720),
            saml_clock_skew_seconds=_count(e, "STITCHD_SAML_CLOCK_SKEW_SECONDS", 60),
            saml_max_response_bytes=_count(e, "STITCHD_SAML_MAX_RESPONSE_BYTES", 262_144),
            saml_metadata_cache_seconds=_count(e, "STITCHD_SAML_METADATA_CACHE_SECONDS", 3600),
            admin_port=_admin_port(e),
            enable_metrics=_bool(e, "ENABLE_METRICS", True),
            max_flag_series=_count(e, "STITCHD_METRICS_MAX_FLAG_SERIES", 10_000),
            rate_limit=RateLimitSettings.from_env(e),
            sso_secret_key=_key(e, "STITCHD_SSO_SECRET_KEY"),
            sso_allow_private_idp=_bool(e, "STITCHD_SSO_ALLOW_PRIVATE_IDP", False),
            sso_require_https=_bool(e, "STITCHD_SSO_REQUIRE_HTTPS", True),
            sso_public_url=_url(e, "STITCHD_SSO_PUBLIC_URL", "http://localhost:8080"),
            sso_http_timeout_seconds=_count(e, "STITCHD_SSO_HTTP_TIMEOUT_SECONDS", 5),
            sso_state_ttl_seconds=_count(e, "STITCHD_SSO_STATE_TTL_SECONDS", 600),
        )


@dataclass(frozen=True)
class EdgeSettings:
    """`stitchd edge` (docs/edge.md): the SDK keys it serves, where the platform is, what it listens on."""

    sdk_keys: tuple[str, ...] = field(default=(), repr=False)
    upstream_grpc: str = "127.0.0.1:50050"
    upstream_rest: str = "http://127.0.0.1:8080"
    http_port: int = 8090
    grpc_port: int = 50060
    cache_dir: Path = Path(".stitchd") / "edge-cache"
    history: int = 1000  # deltas retained per environment for downstream since_sequence

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> EdgeSettings:
        e = os.environ if env is None else env
        keys = tuple(k.strip() for k in e.get("STITCHD_EDGE_SDK_KEYS", "").split(",") if k.strip())
        if not keys:
            raise SettingsError("STITCHD_EDGE_SDK_KEYS must name at least one SDK key (comma-separated)")
        data_dir = Path(e.get("STITCHD_DATA_DIR", ".stitchd"))
        return EdgeSettings(
            sdk_keys=keys,
            upstream_grpc=e.get("STITCHD_EDGE_UPSTREAM_GRPC") or EdgeSettings.upstream_grpc,
            upstream_rest=e.get("STITCHD_EDGE_UPSTREAM_REST") or EdgeSettings.upstream_rest,
            http_port=_port(e, "STITCHD_EDGE_HTTP_PORT", 8090),
            grpc_port=_port(e, "STITCHD_EDGE_GRPC_PORT", 50060),
            cache_dir=Path(e.get("STITCHD_EDGE_CACHE_DIR") or data_dir / "edge-cache"),
            history=_count(e, "STITCHD_EDGE_HISTORY", 1000),
        )


def _pair(env: Mapping[str, str], prefix: str, field_prefix: str) -> dict[str, Path | None]:
    """`<prefix>_CERT` and `<prefix>_KEY`: both or neither."""
    cert, key = env.get(f"{prefix}_CERT") or None, env.get(f"{prefix}_KEY") or None
    if (cert is None) != (key is None):
        raise SettingsError(f"{prefix}_CERT and {prefix}_KEY must be set together")
    return {
        f"{field_prefix}_cert": None if cert is None else Path(cert),
        f"{field_prefix}_key": None if key is None else Path(key),
    }


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


def _replicas(env: Mapping[str, str]) -> int | None:
    """STITCHD_NATS_REPLICAS: 1 to 5 (JetStream's limit), or unset for what streams.json says."""
    if not env.get("STITCHD_NATS_REPLICAS", "").strip():
        return None
    replicas = _number(env, "STITCHD_NATS_REPLICAS", 1, int)
    if replicas > 5:
        raise SettingsError(f"STITCHD_NATS_REPLICAS must be at most 5, got {replicas}")
    return replicas


def _admin_port(env: Mapping[str, str]) -> int | None:
    """STITCHD_ADMIN_PORT: a port, 0 for free ports, `off` for no admin server; default 9100."""
    if env.get("STITCHD_ADMIN_PORT", "").strip().lower() == "off":
        return None
    return _port(env, "STITCHD_ADMIN_PORT", DEFAULT_ADMIN_PORT)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise SettingsError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def _key(env: Mapping[str, str], name: str) -> bytes | None:
    """32 bytes, base64 (standard or URL-safe alphabet); the value itself never enters the message."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4), validate=True)
    except ValueError:
        raise SettingsError(f"{name} must be base64") from None
    if len(key) != 32:
        raise SettingsError(f"{name} must encode exactly 32 bytes (e.g. `openssl rand -base64 32`)")
    return key


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _networks(env: Mapping[str, str], name: str) -> str:
    """Checked here (a typo must stop the start), parsed again by the gateway."""
    raw = env.get(name, "")
    for part in (p.strip() for p in raw.split(",")):
        if part:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise SettingsError(f"{name}: not an IP address or network: {part!r}") from None
    return raw
