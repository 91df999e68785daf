"""The project aggregate: state, fold and deciders."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import ProjectAlreadyExists, ProjectNotFound
from domain.ids import check_name
from domain.tenancy.commands import CreateProject, RenameProject
from domain.tenancy.events import ProjectCreated, ProjectEvent, ProjectRenamed


class Project(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    org_id: UUID
    name: str


def _fresh_name(name: str, taken_names: frozenset[str]) -> str:
    checked = check_name(name, what="project name")
    if checked.casefold() in {n.casefold() for n in taken_names}:
        raise ProjectAlreadyExists(f"a project named {checked!r} already exists")
    return checked


def create_project(
    project: Project | None, cmd: CreateProject, now: datetime, *, taken_names: frozenset[str] = frozenset()
) -> list[ProjectEvent]:
    """A new project; `taken_names` are the organisation's other project names (case-insensitive)."""
    if project is not None:
        raise ProjectAlreadyExists(f"project {cmd.project_id} already exists")
    name = _fresh_name(cmd.name, taken_names)
    return [
        ProjectCreated(stream_id=cmd.project_id, version=1, occurred_at=now, org_id=cmd.org_id, name=name)
    ]


def rename_project(
    project: Project | None, cmd: RenameProject, now: datetime, *, taken_names: frozenset[str] = frozenset()
) -> list[ProjectEvent]:
    """Rename; the same name is a no-op, another project's name is refused."""
    if project is None:
        raise ProjectNotFound(f"project {cmd.project_id} not found")
    if check_name(cmd.name, what="project name") == project.name:
        return []
    name = _fresh_name(cmd.name, taken_names - {project.name})
    return [ProjectRenamed(stream_id=project.id, version=project.version + 1, occurred_at=now, name=name)]


def evolve(state: Project | None, event: ProjectEvent) -> Project:
    """Fold one fact; never refuses."""
    match event:
        case ProjectCreated(stream_id=id_, version=v, org_id=org_id, name=name):
            return Project(id=id_, version=v, org_id=org_id, name=name)
        case ProjectRenamed(version=v, name=name):
            assert state is not None
            return msgspec.structs.replace(state, version=v, name=name)


def replay(events: Iterable[ProjectEvent]) -> Project | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
