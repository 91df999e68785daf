"""Provider secrets sealed at rest: AES-256-GCM under a key from settings, the provider id as associated
data (a sealed value cannot be moved to another provider). Same `sealed:v1:` format as the identity
vault (readmodels.vault), whose functions do the work."""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

from readmodels.vault import ERASED, SEALED_PREFIX, open_with, seal_with

KEY_BYTES = 32
_DERIVATION_LABEL = b"stitchd sso provider secrets v1"


class SecretUnavailable(Exception):  # noqa: N818 - reads as the condition it reports
    """A stored secret does not open (the key changed): the provider must be given its secret again."""


def derive_key(jwt_secret: str) -> bytes:
    """A key of its own derived from the JWT secret (HMAC-SHA256 as a one-step KDF), used only when
    STITCHD_SSO_SECRET_KEY is not set: tokens and stored secrets never share key material directly."""
    return hmac.new(jwt_secret.encode(), _DERIVATION_LABEL, hashlib.sha256).digest()


class SecretBox:
    """Seals and opens provider secrets."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the SSO secret key must be {KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "SecretBox(<key>)"

    def seal(self, provider_id: UUID, secret: str) -> str:
        """The sealed form ("" stays "": no secret)."""
        return seal_with(self._key, provider_id, secret) if secret else ""

    def open(self, provider_id: UUID, sealed: str) -> str:
        """The secret in clear; SecretUnavailable when it does not open under this key."""
        if not sealed:
            return ""
        if not sealed.startswith(SEALED_PREFIX):
            raise SecretUnavailable("stored secret is not sealed")
        clear = open_with(self._key, provider_id, sealed)
        if clear == ERASED:
            raise SecretUnavailable("stored secret does not open: set the provider's client secret again")
        return clear


def keyed_digest(box: SecretBox, secret: str) -> str:
    """An HMAC of the secret (for idempotency fingerprints: a plain hash of a weak secret is guessable)."""
    return hmac.new(box._key, secret.encode(), hashlib.sha256).hexdigest()
