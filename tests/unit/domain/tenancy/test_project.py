"""Projects (domain.tenancy.project)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.errors import ProjectAlreadyExists
from domain.tenancy import project as projects
from domain.tenancy.commands import CreateProject, RenameProject
from tests.unit.domain.harness import NOW, current

ORG, PROJECT, ENV = uuid4(), uuid4(), uuid4()


def _cmd() -> UUID:
    return uuid4()


def test_project_names_are_unique_in_an_org_ignoring_case() -> None:
    create = CreateProject(command_id=_cmd(), project_id=PROJECT, org_id=ORG, name="Web")
    with pytest.raises(ProjectAlreadyExists):
        projects.create_project(None, create, NOW, taken_names=frozenset({"web"}))
    project = current(
        projects.create_project(None, create, NOW, taken_names=frozenset({"api"})), projects.replay
    )
    with pytest.raises(ProjectAlreadyExists):
        projects.create_project(project, create, NOW)
    rename = RenameProject(command_id=_cmd(), project_id=PROJECT, name="Web")
    assert projects.rename_project(project, rename, NOW, taken_names=frozenset({"Web"})) == []
    with pytest.raises(ProjectAlreadyExists):
        projects.rename_project(
            project,
            RenameProject(command_id=_cmd(), project_id=PROJECT, name="API"),
            NOW,
            taken_names=frozenset({"Web", "api"}),
        )
