"""Who may manage whose account: the one rule every user-management route asks.

An organisation admin manages the credentials (password, account removal) of a user only when EVERY
organisation that user belongs to is one the admin administers. Anyone with a membership elsewhere (a
system admin, a consultant in two tenants) is out of reach: otherwise the admin of one tenant could
reset the password of someone's account and log into the other organisation with it. The user
themselves (with the current password) and system admins are the only others who may.
"""

from __future__ import annotations

import enum
from uuid import UUID

import msgspec

from domain.tenancy.events import OrgRole
from domain.tenancy.org import SYSTEM_ORG_ID
from gateway.auth.principals import Caller
from gateway.deps import GatewayDeps
from gateway.errors import NotFound, PermissionDenied
from readmodels import identity


class Action(enum.Enum):
    """What the caller wants to do to a member of its organisation."""

    END_MEMBERSHIP = "end the membership in the caller's organisation"
    SET_CREDENTIALS = "set the password of, or delete, the account"


async def administered_orgs(deps: GatewayDeps, user_id: UUID) -> frozenset[UUID]:
    """The organisations where `user_id` is an org admin."""
    return frozenset(
        m.org_id for m in await identity.memberships(deps.db, user_id) if m.role == OrgRole.ORG_ADMIN
    )


def may_manage(
    *, target_orgs: frozenset[UUID], admin_of: frozenset[UUID], caller_org: UUID, action: Action
) -> bool:
    """The rule itself, pure: see the module docstring."""
    if SYSTEM_ORG_ID in admin_of:  # a system admin manages every account
        return True
    if caller_org not in admin_of or caller_org not in target_orgs:
        return False
    return action is Action.END_MEMBERSHIP or target_orgs <= admin_of


class Managed(msgspec.Struct, frozen=True, kw_only=True):
    """A member the caller may act on, with every organisation it belongs to (before the action)."""

    user: identity.UserCredentials
    orgs: frozenset[UUID]


async def managed_member(deps: GatewayDeps, caller: Caller, user_id: UUID, action: Action) -> Managed:
    """The live member `user_id` of the caller's organisation if the caller may do `action` to it.

    Not a member of the caller's organisation: 404 (no hint the account exists). Routes handle the
    caller acting on itself before asking (its own password needs the current one).
    """
    user = await identity.user_by_id(deps.db, user_id)
    targets = frozenset(m.org_id for m in await identity.memberships(deps.db, user_id))
    if user is None or caller.org_id not in targets:
        raise NotFound(f"user {user_id} not found")
    admin_of = await administered_orgs(deps, caller.user_id)
    if caller.org_id not in admin_of:
        raise PermissionDenied("organisation admin role required")
    if not may_manage(target_orgs=targets, admin_of=admin_of, caller_org=caller.org_id, action=action):
        raise PermissionDenied(
            "this account also belongs to other organisations: only its owner or a system admin"
            " may change its credentials"
        )
    return Managed(user=user, orgs=targets)
