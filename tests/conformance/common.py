"""What the conformance adapters share: where the cases live and how an outcome is judged."""

from __future__ import annotations

from pathlib import Path

# Vendored under tests/conformance/vendor with their licences; PROVENANCE.md says from where.
CASES_DIR = Path(__file__).resolve().parent / "vendor"


class Unsupported(Exception):  # noqa: N818 - a verdict, not a failure
    """The case needs something our language deliberately lacks; the message is the one-line reason."""


class Rejected(Exception):  # noqa: N818 - a verdict, not a failure
    """Our codec refuses the condition at write time, so it can never match: expected false passes."""
