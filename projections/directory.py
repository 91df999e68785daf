"""Directory projection: organisations, projects and environments (rm_orgs, rm_projects, rm_environments)."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.envelope import RecordedEvent
from domain.events import Event
from domain.tenancy.events import (
    EnvironmentCreated,
    EnvironmentRenamed,
    OrgCreated,
    OrgRenamed,
    ProjectCreated,
    ProjectRenamed,
)

NAME = "directory"
TABLES = ("rm_orgs", "rm_projects", "rm_environments")


async def apply(tx: psycopg.AsyncConnection[Any], event: Event, recorded: RecordedEvent) -> None:
    """Insert on creation, update names on renames; every other event is not this view's business."""
    match event:
        case OrgCreated(stream_id=id_, version=v, occurred_at=at, name=name, is_system=system):
            await tx.execute(
                "INSERT INTO rm_orgs (id, name, is_system, version, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (id_, name, system, v, at, at),
            )
        case ProjectCreated(stream_id=id_, version=v, occurred_at=at, org_id=org, name=name):
            await tx.execute(
                "INSERT INTO rm_projects (id, org_id, name, version, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (id_, org, name, v, at, at),
            )
        case EnvironmentCreated(
            stream_id=id_, version=v, occurred_at=at, org_id=org, project_id=project, name=name
        ):
            await tx.execute(
                "INSERT INTO rm_environments (id, org_id, project_id, name, version, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (id_, org, project, name, v, at, at),
            )
        case OrgRenamed() | ProjectRenamed() | EnvironmentRenamed():
            await _rename(tx, _RENAMED_TABLE[type(event)], event)
        case _:
            pass


_RENAMED_TABLE: dict[type[Event], str] = {
    OrgRenamed: "rm_orgs",
    ProjectRenamed: "rm_projects",
    EnvironmentRenamed: "rm_environments",
}


Renamed = OrgRenamed | ProjectRenamed | EnvironmentRenamed


async def _rename(tx: psycopg.AsyncConnection[Any], table: str, event: Renamed) -> None:
    # table comes from the fixed mapping above, never from data
    await tx.execute(
        f"UPDATE {table} SET name = %s, version = %s, updated_at = %s WHERE id = %s".encode(),
        (event.name, event.version, event.occurred_at, event.stream_id),
    )
