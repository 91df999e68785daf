"""What the proto converters share: their one error and the int64 range of the wire."""

from __future__ import annotations

INT64 = range(-(2**63), 2**63)


class WireFormatError(ValueError):
    """A value cannot cross the wire: it breaks the contract documented in `schemas/proto/`."""
