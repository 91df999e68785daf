"""SAML knobs (stitchd.settings reads them from STITCHD_SAML_*; docs/running.md lists them). The login
state's lifetime is the SSO one (STITCHD_SSO_STATE_TTL_SECONDS), outbound HTTP the SSO guard's."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.saml.envelope import DEFAULT_MAX_RESPONSE_BYTES
from gateway.saml.metadata import DEFAULT_METADATA_CACHE_SECONDS
from gateway.saml.protocol import DEFAULT_SKEW_SECONDS


@dataclass(frozen=True, kw_only=True)
class SamlSettings:
    skew_seconds: int = DEFAULT_SKEW_SECONDS  # NotBefore / NotOnOrAfter slack
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES  # decoded SAMLResponse
    metadata_cache_seconds: float = DEFAULT_METADATA_CACHE_SECONDS  # IdP metadata fetched by URL
