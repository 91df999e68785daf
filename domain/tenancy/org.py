"""The organisation aggregate: state, fold and deciders."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import msgspec

from domain.errors import OrgAlreadyExists, OrgNotFound, SystemOrgSsoRefused
from domain.ids import check_name, stream_id
from domain.tenancy.commands import CreateOrg, RenameOrg, SetOrgSsoRequirement
from domain.tenancy.events import OrgCreated, OrgEvent, OrgRenamed, OrgSsoRequirementChanged

# The platform's own organisation: deterministic so every process agrees on it from first start.
SYSTEM_ORG_ID = stream_id("org", "system")


class Org(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    name: str
    is_system: bool = False
    require_sso: bool = False  # password login refused for non-system members (issue 13)


def create_org(org: Org | None, cmd: CreateOrg, now: datetime) -> list[OrgEvent]:
    """A new organisation; its id must be fresh."""
    if org is not None:
        raise OrgAlreadyExists(f"organisation {cmd.org_id} already exists")
    name = check_name(cmd.name, what="organisation name")
    return [OrgCreated(stream_id=cmd.org_id, version=1, occurred_at=now, name=name, is_system=cmd.is_system)]


def rename_org(org: Org | None, cmd: RenameOrg, now: datetime) -> list[OrgEvent]:
    """Rename; the same name is a no-op."""
    if org is None:
        raise OrgNotFound(f"organisation {cmd.org_id} not found")
    name = check_name(cmd.name, what="organisation name")
    if name == org.name:
        return []
    return [OrgRenamed(stream_id=org.id, version=org.version + 1, occurred_at=now, name=name)]


def set_sso_requirement(org: Org | None, cmd: SetOrgSsoRequirement, now: datetime) -> list[OrgEvent]:
    """Require (or stop requiring) SSO; the system organisation never does; the same value is a no-op."""
    if org is None:
        raise OrgNotFound(f"organisation {cmd.org_id} not found")
    if org.is_system and cmd.require_sso:
        raise SystemOrgSsoRefused("the system organisation cannot require SSO")
    if org.require_sso == cmd.require_sso:
        return []
    return [
        OrgSsoRequirementChanged(
            stream_id=org.id, version=org.version + 1, occurred_at=now, require_sso=cmd.require_sso
        )
    ]


def evolve(state: Org | None, event: OrgEvent) -> Org:
    """Fold one fact; never refuses."""
    match event:
        case OrgCreated(stream_id=id_, version=v, name=name, is_system=is_system):
            return Org(id=id_, version=v, name=name, is_system=is_system)
        case OrgRenamed(version=v, name=name):
            assert state is not None
            return msgspec.structs.replace(state, version=v, name=name)
        case OrgSsoRequirementChanged(version=v, require_sso=required):
            assert state is not None
            return msgspec.structs.replace(state, version=v, require_sso=required)


def replay(events: Iterable[OrgEvent]) -> Org | None:
    """The state after `events`, or None for an empty stream."""
    return functools.reduce(evolve, events, None)
