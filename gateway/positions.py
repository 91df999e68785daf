"""Read-your-writes across requests: the `X-Stitchd-Min-Position` a client sends with its next read."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from gateway.auth.principals import deps_of
from gateway.errors import InvalidArgument
from readmodels.positions import parse_position

MIN_POSITION_HEADER = "x-stitchd-min-position"


def parsed_position(connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
    """The header's position (ASCII digits only), None when absent; 400 when malformed (no IO)."""
    raw = connection.headers.get(MIN_POSITION_HEADER)
    if raw is None:
        return None
    position = parse_position(raw)
    if position is None:
        raise InvalidArgument(f"{MIN_POSITION_HEADER} must be a non-negative integer of ASCII digits")
    return position


async def requested_position(connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
    """The position the client asks to see, capped at the store's head; None when it asks for none.

    A position beyond everything written can never be reached: waiting for it would only hold the
    connection open for the full bound, so it is capped at the head.
    """
    position = parsed_position(connection)
    if position is None:
        return None
    return min(position, await deps_of(connection).event_log.head_position())
