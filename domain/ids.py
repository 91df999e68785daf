"""Deterministic stream ids and the shape of user-chosen keys."""

from __future__ import annotations

import re
from uuid import UUID, uuid5

import msgspec

from domain.errors import BlankName, InvalidEmail, InvalidKey

# Permanent: changing it would orphan every keyed stream.
STREAM_NAMESPACE = UUID("6f3a2d1e-8c4b-5e7f-9a0b-1c2d3e4f5a6b")

KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_NAME_LENGTH = 200


def stream_id(kind: str, *parts: object) -> UUID:
    """The uuid5 of a stream named by its kind and parts; a JSON array keeps parts unambiguous."""
    name = msgspec.json.encode([kind, *(str(p) for p in parts)]).decode()
    return uuid5(STREAM_NAMESPACE, name)


def check_key(key: str, *, what: str = "key") -> str:
    """Return `key` if it is 1-128 chars of letters, digits, `.`, `_`, `:` or `-`; else InvalidKey."""
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidKey(f"invalid {what} {key!r}: use 1-128 letters, digits, '.', '_', ':' or '-'")
    return key


def check_name(name: str, *, what: str = "name") -> str:
    """Return `name` stripped if it is not blank and not too long; else BlankName."""
    stripped = name.strip()
    if not stripped or len(stripped) > MAX_NAME_LENGTH:
        raise BlankName(f"{what} must be 1-{MAX_NAME_LENGTH} characters")
    return stripped


# Invisible characters str.strip() keeps (they are not whitespace to Python) but a login form hides.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def canonical_email(text: str) -> str:
    """The one comparable form of an email as typed: every Unicode blank and invisible character
    trimmed from both ends (incl. U+3000, NBSP, zero-width), lower-cased. Storage, lookup and the login
    throttle all use it, so variants of an address can never be told apart by any of them."""
    trimmed = text
    while trimmed != (stripped := trimmed.strip().strip(_INVISIBLE)):
        trimmed = stripped
    return trimmed.lower()


def normalize_email(email: str) -> str:
    """The canonical email; InvalidEmail unless it looks like `local@domain`."""
    normal = canonical_email(email)
    local, at, domain = normal.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in normal) or len(normal) > 254:
        raise InvalidEmail(f"invalid email {email!r}")
    return normal
