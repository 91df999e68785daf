"""Tenancy intents; each names exactly one stream by its id fields."""

from __future__ import annotations

from uuid import UUID

from domain.events import Command
from domain.tenancy.events import OrgRole


class CreateOrg(Command, frozen=True, kw_only=True, tag="org.create"):
    org_id: UUID
    name: str
    is_system: bool = False


class RenameOrg(Command, frozen=True, kw_only=True, tag="org.rename"):
    org_id: UUID
    name: str


class SetOrgSsoRequirement(Command, frozen=True, kw_only=True, tag="org.set_sso_requirement"):
    org_id: UUID
    require_sso: bool


class ClaimEmail(Command, frozen=True, kw_only=True, tag="email.claim"):
    """Reserve an email for a user before registering it (stream `stream_id("email", email_lower)`)."""

    email: str
    user_id: UUID


class ReleaseEmail(Command, frozen=True, kw_only=True, tag="email.release"):
    email: str
    user_id: UUID


class RegisterUser(Command, frozen=True, kw_only=True, tag="user.register"):
    """Create an account, optionally joining `org_id` with `role` in the same decision."""

    user_id: UUID
    email: str
    display_name: str
    password_hash: str
    org_id: UUID | None = None
    role: OrgRole = OrgRole.ORG_MEMBER


class ChangePassword(Command, frozen=True, kw_only=True, tag="user.change_password"):
    """`password_hash` goes to the vault, never into an event; `token_generation` is the vault's."""

    user_id: UUID
    password_hash: str
    token_generation: int = 0


class RenameUser(Command, frozen=True, kw_only=True, tag="user.rename"):
    user_id: UUID
    display_name: str


class SetMembership(Command, frozen=True, kw_only=True, tag="user.set_membership"):
    """Join `org_id` with `role`, or change the role if already a member."""

    user_id: UUID
    org_id: UUID
    role: OrgRole


class InviteToOrg(Command, frozen=True, kw_only=True, tag="user.invite_to_org"):
    """Invite an existing account into `org_id`; it joins only when its owner accepts."""

    user_id: UUID
    org_id: UUID
    role: OrgRole
    display_name: str = ""


class AcceptInvitation(Command, frozen=True, kw_only=True, tag="user.accept_invitation"):
    user_id: UUID
    org_id: UUID


class RemoveMembership(Command, frozen=True, kw_only=True, tag="user.remove_membership"):
    """Leave the organisation, or withdraw its pending invitation."""

    user_id: UUID
    org_id: UUID


class RemoveUser(Command, frozen=True, kw_only=True, tag="user.remove"):
    user_id: UUID


class CreateProject(Command, frozen=True, kw_only=True, tag="project.create"):
    project_id: UUID
    org_id: UUID
    name: str


class RenameProject(Command, frozen=True, kw_only=True, tag="project.rename"):
    project_id: UUID
    name: str


class CreateEnvironment(Command, frozen=True, kw_only=True, tag="environment.create"):
    environment_id: UUID
    org_id: UUID
    project_id: UUID
    name: str


class RenameEnvironment(Command, frozen=True, kw_only=True, tag="environment.rename"):
    environment_id: UUID
    name: str


class IssueSdkKey(Command, frozen=True, kw_only=True, tag="environment.issue_sdk_key"):
    """Record a key the handler generated; it returns the raw key once and passes only hash and prefix."""

    environment_id: UUID
    key_id: UUID
    name: str
    key_hash: str
    prefix: str


class RevokeSdkKey(Command, frozen=True, kw_only=True, tag="environment.revoke_sdk_key"):
    environment_id: UUID
    key_id: UUID


TenancyCommand = (
    CreateOrg
    | RenameOrg
    | SetOrgSsoRequirement
    | ClaimEmail
    | ReleaseEmail
    | RegisterUser
    | ChangePassword
    | RenameUser
    | SetMembership
    | InviteToOrg
    | AcceptInvitation
    | RemoveMembership
    | RemoveUser
    | CreateProject
    | RenameProject
    | CreateEnvironment
    | RenameEnvironment
    | IssueSdkKey
    | RevokeSdkKey
)
