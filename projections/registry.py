"""Every projection the projector runs and `stitchd projections rebuild` knows (add one import + entry)."""

from __future__ import annotations

from types import ModuleType

from projections import directory, event_definitions, experiments, flags, identity, segments

PROJECTIONS: list[ModuleType] = [directory, identity, flags, segments, event_definitions, experiments]


def by_name(name: str) -> ModuleType:
    """The registered projection called `name`; KeyError names the known ones."""
    for projection in PROJECTIONS:
        if name == projection.NAME:
            return projection
    known = ", ".join(p.NAME for p in PROJECTIONS)
    raise KeyError(f"no projection {name!r} (known: {known})")
