"""SSO knobs (stitchd.settings reads them from STITCHD_SSO_*; docs/running.md lists them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

DEFAULT_PUBLIC_URL = "http://localhost:8080"


@dataclass(frozen=True, kw_only=True)
class SsoSettings:
    """`secret_key`: 32 bytes sealing provider secrets (None: derived from the JWT secret).

    `allow_private_idp`: let issuer / metadata URLs resolve to loopback, private, link-local or other
    non-public addresses (off by default: the URL is tenant-controlled, so the gateway must not become a
    probe of its own network; tests and single-host setups turn it on).
    """

    secret_key: bytes | None = field(default=None, repr=False)
    allow_private_idp: bool = False
    public_url: str = DEFAULT_PUBLIC_URL  # where the IdP reaches this gateway (SAML ACS URLs)
    http_timeout_seconds: float = 5.0  # connect + read, each outbound request to an IdP
    max_response_bytes: int = 1_048_576  # discovery, JWKS, token and metadata answers
    state_ttl: timedelta = timedelta(minutes=10)  # a login started must finish within it
    jwks_refetch_interval: timedelta = timedelta(seconds=30)  # at most one unknown-kid refetch per issuer
    require_https: bool = True  # issuer URLs must be https (off: development against a local IdP)
