"""The one parser of event-store positions read from outside: HTTP headers and JetStream headers."""

from __future__ import annotations

import re

MAX_POSITION_DIGITS = 18  # fits a PostgreSQL bigint
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_POSITION_DIGITS}}}")


def parse_position(raw: str | bytes | None) -> int | None:
    """A non-negative position from ASCII digits only, else None.

    Not `str.isdigit()`/`int()`: those accept other scripts' digits and superscripts (`²`, `٣`),
    signs, underscores and spaces.
    """
    if raw is None:
        return None
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    return int(text) if _DIGITS.fullmatch(text) else None


def parse_event_position(raw: str | bytes | None) -> int | None:
    """A stored event's position (a `Stitchd-Position` header): as parse_position, and at least 1."""
    position = parse_position(raw)
    return position if position else None
