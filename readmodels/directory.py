"""Directory queries over rm_orgs, rm_projects and rm_environments (eventually consistent)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from readmodels.db import ReadDb, fetch_all, fetch_one


class OrgRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    is_system: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ProjectRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    org_id: UUID
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


class EnvironmentRow(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    org_id: UUID
    project_id: UUID
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


_ORG = "SELECT id, name, is_system, version, created_at, updated_at FROM rm_orgs"
_PROJECT = "SELECT id, org_id, name, version, created_at, updated_at FROM rm_projects"
_ENVIRONMENT = "SELECT id, org_id, project_id, name, version, created_at, updated_at FROM rm_environments"


async def get_org(db: ReadDb, org_id: UUID) -> OrgRow | None:
    """One organisation, or None."""
    return await fetch_one(db, _ORG + " WHERE id = %s", (org_id,), OrgRow)


async def get_project(db: ReadDb, project_id: UUID) -> ProjectRow | None:
    """One project, or None."""
    return await fetch_one(db, _PROJECT + " WHERE id = %s", (project_id,), ProjectRow)


async def get_environment(db: ReadDb, env_id: UUID) -> EnvironmentRow | None:
    """One environment, or None."""
    return await fetch_one(db, _ENVIRONMENT + " WHERE id = %s", (env_id,), EnvironmentRow)


async def list_projects(db: ReadDb, org_id: UUID) -> list[ProjectRow]:
    """An organisation's projects, oldest first."""
    return await fetch_all(db, _PROJECT + " WHERE org_id = %s ORDER BY created_at, id", (org_id,), ProjectRow)


async def list_environments(db: ReadDb, project_id: UUID) -> list[EnvironmentRow]:
    """A project's environments, oldest first."""
    query = _ENVIRONMENT + " WHERE project_id = %s ORDER BY created_at, id"
    return await fetch_all(db, query, (project_id,), EnvironmentRow)


async def environment_scope(db: ReadDb, env_id: UUID) -> tuple[UUID, UUID] | None:
    """(org_id, project_id) of an environment, or None when it does not exist."""
    env = await get_environment(db, env_id)
    return None if env is None else (env.org_id, env.project_id)
