"""Settings from environment variables (DESIGN section 11); read only when a process starts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A setting is malformed; the message names it."""


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
    jwt_secret: str | None = field(default=None, repr=False)
    app_env: str = "development"
    log_level: str = "INFO"
    data_dir: Path = Path(".stitchd")

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
            grpc_max_concurrent_streams=_positive(e, "STITCHD_GRPC_MAX_STREAMS", 100),
            nats_port=_port(e, "STITCHD_NATS_PORT", 4222),
            jwt_secret=e.get("STITCHD_JWT_SECRET") or None,
            app_env=e.get("APP_ENV", "development"),
            log_level=e.get("LOG_LEVEL", "INFO").upper(),
            data_dir=Path(e.get("STITCHD_DATA_DIR", ".stitchd")),
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


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)
