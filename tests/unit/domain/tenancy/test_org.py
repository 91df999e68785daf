"""Organisations (domain.tenancy.org)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.errors import BlankName, OrgAlreadyExists, OrgNotFound
from domain.ids import stream_id
from domain.tenancy import org as orgs
from domain.tenancy.commands import CreateOrg, RenameOrg
from tests.unit.domain.harness import NOW, current

ORG, USER = uuid4(), uuid4()


def _cmd() -> UUID:
    return uuid4()


def test_creating_an_org_twice_is_refused() -> None:
    events = orgs.create_org(None, CreateOrg(command_id=_cmd(), org_id=ORG, name=" Acme "), NOW)
    org = current(events, orgs.replay)
    assert (org.name, org.is_system, org.version) == ("Acme", False, 1)
    with pytest.raises(OrgAlreadyExists):
        orgs.create_org(org, CreateOrg(command_id=_cmd(), org_id=ORG, name="Acme"), NOW)


def test_renaming_orgs() -> None:
    org = current(
        orgs.create_org(None, CreateOrg(command_id=_cmd(), org_id=ORG, name="Acme"), NOW), orgs.replay
    )
    assert orgs.rename_org(org, RenameOrg(command_id=_cmd(), org_id=ORG, name="Acme"), NOW) == []
    with pytest.raises(BlankName):
        orgs.rename_org(org, RenameOrg(command_id=_cmd(), org_id=ORG, name=" "), NOW)
    with pytest.raises(OrgNotFound):
        orgs.rename_org(None, RenameOrg(command_id=_cmd(), org_id=ORG, name="B"), NOW)


def test_the_system_org_id_is_fixed() -> None:
    assert stream_id("org", "system") == orgs.SYSTEM_ORG_ID
