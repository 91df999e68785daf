"""Tenancy facts: org, email-claim, user, project and environment streams."""

from __future__ import annotations

import enum
from uuid import UUID

from domain.events import Event


class OrgRole(enum.StrEnum):
    """A user's role in one organisation; the wire names are permanent."""

    ORG_ADMIN = "org_admin"
    ORG_MEMBER = "org_member"
    VIEWER = "viewer"


class OrgCreated(Event, frozen=True, kw_only=True, tag="org.created"):
    name: str
    is_system: bool = False


class OrgRenamed(Event, frozen=True, kw_only=True, tag="org.renamed"):
    name: str


class OrgSsoRequirementChanged(Event, frozen=True, kw_only=True, tag="org.sso_requirement_changed"):
    """While `require_sso`, the organisation's members who are not system members cannot log in with a
    password (issue 13)."""

    require_sso: bool


# Personal data: every `email` and `display_name` below is stored sealed with its owner's key (the
# handlers seal them, readmodels.vault opens them), so deleting that key erases the person from the log.
# Password hashes never enter the log: they live in the vault's credentials table. Old events that still
# carry a `password_hash` decode fine (unknown fields are ignored).


class EmailClaimed(Event, frozen=True, kw_only=True, tag="email.claimed"):
    """The address now belongs to `user_id`; its stream is `stream_id("email", canonical email)`."""

    email: str  # sealed with user_id's key
    user_id: UUID


class EmailReleased(Event, frozen=True, kw_only=True, tag="email.released"):
    user_id: UUID
    email: str = ""  # no longer written: the stream names the address


class UserRegistered(Event, frozen=True, kw_only=True, tag="user.registered"):
    """A user account with a password (its hash is in the vault, never here)."""

    email: str  # sealed
    display_name: str  # sealed


class UserPasswordChanged(Event, frozen=True, kw_only=True, tag="user.password_changed"):
    """The password was replaced (the hash is in the vault); tokens of an older generation are dead."""

    token_generation: int


class UserDisplayNameChanged(Event, frozen=True, kw_only=True, tag="user.display_name_changed"):
    display_name: str  # sealed


class UserJoinedOrg(Event, frozen=True, kw_only=True, tag="user.joined_org"):
    org_id: UUID
    role: OrgRole


class UserInvitedToOrg(Event, frozen=True, kw_only=True, tag="user.invited_to_org"):
    """An organisation invited this existing account; it joins (UserJoinedOrg) only when its owner accepts."""

    org_id: UUID
    role: OrgRole
    display_name: str = ""  # sealed: the name the inviting organisation typed, shown only to it


class UserOrgRoleChanged(Event, frozen=True, kw_only=True, tag="user.org_role_changed"):
    org_id: UUID
    role: OrgRole


class UserLeftOrg(Event, frozen=True, kw_only=True, tag="user.left_org"):
    org_id: UUID


class UserRemoved(Event, frozen=True, kw_only=True, tag="user.removed"):
    """The account is gone and its personal data key shredded: its earlier events read as erased."""

    email: str = ""  # no longer written


class ProjectCreated(Event, frozen=True, kw_only=True, tag="project.created"):
    org_id: UUID
    name: str


class ProjectRenamed(Event, frozen=True, kw_only=True, tag="project.renamed"):
    name: str


class EnvironmentCreated(Event, frozen=True, kw_only=True, tag="environment.created"):
    org_id: UUID
    project_id: UUID
    name: str


class EnvironmentRenamed(Event, frozen=True, kw_only=True, tag="environment.renamed"):
    name: str


class SdkKeyIssued(Event, frozen=True, kw_only=True, tag="environment.sdk_key_issued"):
    """A key for this environment; only its hash and a display prefix are stored, never the raw key."""

    key_id: UUID
    name: str
    key_hash: str
    prefix: str


class SdkKeyRevoked(Event, frozen=True, kw_only=True, tag="environment.sdk_key_revoked"):
    key_id: UUID


OrgEvent = OrgCreated | OrgRenamed | OrgSsoRequirementChanged
EmailEvent = EmailClaimed | EmailReleased
UserEvent = (
    UserRegistered
    | UserPasswordChanged
    | UserDisplayNameChanged
    | UserJoinedOrg
    | UserInvitedToOrg
    | UserOrgRoleChanged
    | UserLeftOrg
    | UserRemoved
)
ProjectEvent = ProjectCreated | ProjectRenamed
EnvironmentEvent = EnvironmentCreated | EnvironmentRenamed | SdkKeyIssued | SdkKeyRevoked
TenancyEvent = OrgEvent | EmailEvent | UserEvent | ProjectEvent | EnvironmentEvent
