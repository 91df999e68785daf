"""Builders that append real tenancy events (org, project, environment streams) to a store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from commands.encoding import to_new_events
from commands.eventstore import EventStore, Metadata
from domain.events import Event
from domain.tenancy.events import (
    EnvironmentCreated,
    EnvironmentRenamed,
    OrgCreated,
    OrgRenamed,
    ProjectCreated,
    ProjectRenamed,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Tenancy:
    """Appends tenancy events with increasing timestamps; remembers stream versions and the last position."""

    store: EventStore
    versions: dict[UUID, int] = field(default_factory=dict)
    ticks: int = 0
    last_position: int = 0

    def _next(self, stream: UUID) -> tuple[int, datetime]:
        self.ticks += 1
        return self.versions.get(stream, 0) + 1, T0 + timedelta(seconds=self.ticks)

    async def _append(self, stream_type: str, event: Event, meta: Metadata) -> None:
        result = await self.store.append(
            event.stream_id, stream_type, event.version - 1, to_new_events([event]), metadata=meta
        )
        self.versions[event.stream_id] = event.version
        self.last_position = result.last_position

    async def org(self, name: str = "Acme") -> UUID:
        org_id = uuid4()
        v, at = self._next(org_id)
        await self._append(
            "org", OrgCreated(stream_id=org_id, version=v, occurred_at=at, name=name), Metadata(org_id=org_id)
        )
        return org_id

    async def project(self, org_id: UUID, name: str = "Web") -> UUID:
        pid = uuid4()
        v, at = self._next(pid)
        event = ProjectCreated(stream_id=pid, version=v, occurred_at=at, org_id=org_id, name=name)
        await self._append("project", event, Metadata(org_id=org_id, project_id=pid))
        return pid

    async def environment(self, org_id: UUID, project_id: UUID, name: str = "production") -> UUID:
        eid = uuid4()
        v, at = self._next(eid)
        event = EnvironmentCreated(
            stream_id=eid, version=v, occurred_at=at, org_id=org_id, project_id=project_id, name=name
        )
        await self._append(
            "environment", event, Metadata(org_id=org_id, project_id=project_id, environment_id=eid)
        )
        return eid

    async def rename(self, kind: str, stream: UUID, name: str) -> None:
        v, at = self._next(stream)
        events = {"org": OrgRenamed, "project": ProjectRenamed, "environment": EnvironmentRenamed}
        await self._append(
            kind, events[kind](stream_id=stream, version=v, occurred_at=at, name=name), Metadata()
        )

    async def populate(self, orgs: int = 2, projects: int = 2, environments: int = 2) -> None:
        """A small directory with a rename of each kind."""
        for o in range(orgs):
            org_id = await self.org(f"org {o}")
            for p in range(projects):
                pid = await self.project(org_id, f"project {o}.{p}")
                for e in range(environments):
                    eid = await self.environment(org_id, pid, f"env {o}.{p}.{e}")
                await self.rename("environment", eid, f"renamed env {o}.{p}")
            await self.rename("project", pid, f"renamed project {o}")
            await self.rename("org", org_id, f"renamed org {o}")
