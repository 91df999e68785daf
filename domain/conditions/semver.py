"""Semantic versions per semver.org 2.0.0: a strict parser and precedence ordering, no dependencies."""

from __future__ import annotations

import re
from typing import NamedTuple

_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)
MAX_SEMVER_LENGTH = 256  # longer strings are not versions anyone ships; refuse them before the regex


class SemVer(NamedTuple):
    """A parsed version; build metadata is dropped because it never affects precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...]

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        """A sort key implementing semver precedence (a release outranks its pre-releases)."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        # Numeric identifiers sort below alphanumeric ones, hence the (0, n) / (1, s) pairs.
        ids = tuple((0, p) if isinstance(p, int) else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0, ids)


def parse_semver(text: str) -> SemVer | None:
    """The version `text` denotes, or None when it is not a strict semver.org version."""
    if len(text) > MAX_SEMVER_LENGTH:
        return None
    m = _SEMVER.fullmatch(text)
    if m is None:
        return None
    pre = m.group(4)
    ids: tuple[int | str, ...] = ()
    if pre:
        ids = tuple(int(p) if p.isdigit() else p for p in pre.split("."))
    return SemVer(int(m.group(1)), int(m.group(2)), int(m.group(3)), ids)


def compare_semver(a: SemVer, b: SemVer) -> int:
    """-1, 0 or 1 by semver precedence."""
    ka, kb = a.key(), b.key()
    return (ka > kb) - (ka < kb)
