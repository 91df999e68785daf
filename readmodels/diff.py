"""Structural differences between two JSON-like documents (the audit's before/after)."""

from __future__ import annotations

from typing import Any

import msgspec

_MISSING: Any = msgspec.UNSET  # marks "absent" on one side; rendered as null


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One changed leaf: `path` is dotted (list indexes as numbers); absent sides are None."""

    path: str
    before: Any = None
    after: Any = None


def _join(prefix: str, part: str | int) -> str:
    return f"{prefix}.{part}" if prefix else str(part)


def _walk(before: Any, after: Any, path: str, out: list[Change]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            _walk(before.get(key, _MISSING), after.get(key, _MISSING), _join(path, key), out)
    elif isinstance(before, list | tuple) and isinstance(after, list | tuple) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            _walk(b, a, _join(path, i), out)
    elif before != after or type(before) is not type(after):
        b = None if before is _MISSING else before
        a = None if after is _MISSING else after
        out.append(Change(path=path, before=b, after=a))


def diff(before: Any, after: Any) -> list[Change]:
    """Leaf-level changes turning `before` into `after` (dicts by key, equal-length lists by index)."""
    out: list[Change] = []
    _walk(before, after, "", out)
    return out
