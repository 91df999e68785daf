"""Read-your-writes across requests: the `X-Stitchd-Min-Position` a client sends with its next read."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from gateway.auth.principals import deps_of
from gateway.errors import InvalidArgument

MIN_POSITION_HEADER = "x-stitchd-min-position"
_MAX_DIGITS = 18  # fits a bigint


async def requested_position(connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
    """The position the client asks to see, capped at the store's head; None when it asks for none.

    A position beyond everything written can never be reached: waiting for it would only hold the
    connection open for the full bound, so it is capped at the head.
    """
    raw = connection.headers.get(MIN_POSITION_HEADER)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > _MAX_DIGITS:
        raise InvalidArgument(f"{MIN_POSITION_HEADER} must be a non-negative integer")
    return min(int(raw), await deps_of(connection).store.head_position())
