"""Instants for the date operators: ISO-8601 strings or epoch milliseconds, compared as epoch millis."""

from __future__ import annotations

import math
from datetime import UTC, datetime

MAX_DATE_LENGTH = 64


def to_epoch_millis(value: object) -> float | None:
    """Epoch milliseconds of an ISO-8601 string (naive means UTC) or of a number of millis; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value) if abs(value) < 1e300 else math.inf
        return number if math.isfinite(number) else None
    if isinstance(value, str) and 0 < len(value) <= MAX_DATE_LENGTH:
        return _parse_iso(value)
    return None


def _parse_iso(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp() * 1000.0
    except (OverflowError, ValueError):
        return None
