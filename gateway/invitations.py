"""/v1/auth/invitations: organisations that invited the caller's account, to accept or decline.

Creating a user whose email already belongs to an account of another organisation invites that
account instead (commands.identity.register_user): it joins only when its owner accepts here, so no
organisation can pull a stranger's account in, or make it unmanageable by its own admins.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from commands.identity import accept_invitation, remove_membership
from domain.tenancy.commands import AcceptInvitation, RemoveMembership
from gateway.auth.guards import BEARER
from gateway.auth.principals import Caller
from gateway.deps import GatewayDeps
from gateway.errors import NotFound, PermissionDenied
from readmodels import identity
from schemas.http_identity import InvitationEntry, InvitationsReply, PositionReply


async def _pending(deps: GatewayDeps, caller: Caller, org_id: UUID) -> None:
    if caller.bound_org_id is not None:  # an SSO session speaks for one organisation, not the account
        raise PermissionDenied("a single sign-on session cannot answer invitations: log in with a password")
    if not await identity.is_invited(deps.db, caller.user_id, org_id):
        raise NotFound(f"no invitation from organisation {org_id}")


class InvitationController(Controller):
    path = "/v1/auth/invitations"
    tags = ["auth"]
    security = BEARER

    @get("/")
    async def list_invitations(
        self, caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> InvitationsReply:
        """The caller's pending invitations, oldest first."""
        # An SSO session acts in its organisation only: other organisations' names are not its business.
        rows = [] if caller.bound_org_id else await identity.invitations(deps.db, caller.user_id)
        return InvitationsReply(
            invitations=[
                InvitationEntry(org_id=r.org_id, org_name=r.org_name, role=r.role, invited_at=r.invited_at)
                for r in rows
            ]
        )

    @post("/{org_id:uuid}/accept", status_code=200)
    async def accept(
        self, org_id: FromPath[UUID], caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> PositionReply:
        """Join the organisation with the invited role (then switch-org into it)."""
        await _pending(deps, caller, org_id)
        cmd = AcceptInvitation(command_id=uuid4(), user_id=caller.user_id, org_id=org_id)
        written = await accept_invitation(cmd, store=deps.store, clock=deps.clock, actor=caller.actor)
        return PositionReply(position=await deps.settle(written.position))

    @delete("/{org_id:uuid}", status_code=200)
    async def decline(
        self, org_id: FromPath[UUID], caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> PositionReply:
        """Decline the invitation."""
        await _pending(deps, caller, org_id)
        cmd = RemoveMembership(command_id=uuid4(), user_id=caller.user_id, org_id=org_id)
        written = await remove_membership(cmd, store=deps.store, clock=deps.clock, actor=caller.actor)
        return PositionReply(position=await deps.settle(written.position))
