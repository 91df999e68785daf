"""Per-organisation quotas on what a tenant may create (issue 9 item 13): named limits and their error.

Counts of projects, environments, flags and segments per organisation are kept by the event store in
the transaction that appends the creating (or deleting) event, under the append lock, so concurrent
creates can never exceed a limit (`commands.eventstore.Usage`). SDK keys per environment are counted in
the environment aggregate (its stream version orders concurrent issues). List-segment members per
segment are counted from the read model, which may lag the last writes: that bound is approximate by
the members of the batches still in flight.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from domain.errors import QuotaExceeded

__all__ = ["DEFAULT_QUOTAS", "Counted", "QuotaExceeded", "Quotas", "exceeded"]


class Counted(StrEnum):
    """What the event store counts per organisation (the `kind` of a usage row; permanent names)."""

    PROJECTS = "projects"
    ENVIRONMENTS = "environments"
    FLAGS = "flags"
    SEGMENTS = "segments"


class Quotas(msgspec.Struct, frozen=True, kw_only=True):
    """Limits per organisation (and per environment / segment where named); generous by default."""

    projects_per_org: int = 100
    environments_per_org: int = 1_000
    flags_per_org: int = 10_000
    segments_per_org: int = 10_000
    sdk_keys_per_environment: int = 100
    members_per_segment: int = 1_000_000

    def limit(self, counted: Counted) -> int:
        """The per-organisation limit of a counted kind."""
        match counted:
            case Counted.PROJECTS:
                return self.projects_per_org
            case Counted.ENVIRONMENTS:
                return self.environments_per_org
            case Counted.FLAGS:
                return self.flags_per_org
            case Counted.SEGMENTS:
                return self.segments_per_org


DEFAULT_QUOTAS = Quotas()


def exceeded(what: str, limit: int, scope: str = "organisation") -> QuotaExceeded:
    """The error naming the limit: `quota reached: at most 100 projects per organisation`."""
    return QuotaExceeded(f"quota reached: at most {limit} {what} per {scope}")
