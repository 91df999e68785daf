"""SDK key material: `sdk_live_` plus random bytes, stored only as a SHA-256 hash and a display prefix.

Pure functions: the handler supplies the randomness (`secrets.token_bytes(32)`), returns the raw key once,
and appends only `hash_sdk_key(raw)` and `display_prefix(raw)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SDK_KEY_PREFIX = "sdk_live_"
MIN_RANDOM_BYTES = 32
DISPLAY_CHARS = 8  # random characters shown after the prefix when listing keys


def raw_sdk_key(random_bytes: bytes) -> str:
    """A raw key from at least 32 random bytes (URL-safe base64, no padding)."""
    if len(random_bytes) < MIN_RANDOM_BYTES:
        raise ValueError(f"an SDK key needs at least {MIN_RANDOM_BYTES} random bytes")
    return SDK_KEY_PREFIX + base64.urlsafe_b64encode(random_bytes).decode().rstrip("=")


def hash_sdk_key(raw_key: str) -> str:
    """The stored form: hex SHA-256 (the key is high-entropy, so a slow hash adds nothing)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def display_prefix(raw_key: str) -> str:
    """What listings show: the scheme prefix and the first few random characters."""
    return raw_key[: len(SDK_KEY_PREFIX) + DISPLAY_CHARS]


def matches(raw_key: str, key_hash: str) -> bool:
    """Constant-time check of a presented key against a stored hash."""
    return hmac.compare_digest(hash_sdk_key(raw_key), key_hash)
