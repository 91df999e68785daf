"""Every projection the projector runs and `stitchd projections rebuild` knows (add one import + entry)."""

from __future__ import annotations

from types import ModuleType

from projections import auth_providers, directory, event_definitions, experiments, flags, identity, segments

PROJECTIONS: list[ModuleType] = [
    directory,
    identity,
    flags,
    segments,
    event_definitions,
    experiments,
    auth_providers,
]


class UnknownProjectionError(LookupError):
    """No registered projection has that NAME; the message lists the known ones."""


def by_name(name: str) -> ModuleType:
    """The registered projection called `name`; UnknownProjectionError names the known ones."""
    for projection in PROJECTIONS:
        if name == projection.NAME:
            return projection
    known = ", ".join(p.NAME for p in PROJECTIONS)
    raise UnknownProjectionError(f"no projection {name!r} (known: {known})")
