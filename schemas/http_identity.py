"""HTTP bodies of the identity and tenancy routes (seed field names, snake_case; unknown fields refused)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

import msgspec

from schemas.http_body import Body

# Python's whitespace (str.isspace) and the invisible characters domain.ids.canonical_email trims.
_BLANK = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVISIBLE = r"\u200b-\u200d\u2060\ufeff"
# domain.ids.normalize_email as a pattern: blanks around, `local@domain` with a dot in the domain and no
# blank inside (tests/unit/schemas/test_identity_rules.py checks the two agree).
EMAIL_REGEX = (
    rf"^[{_BLANK}{_INVISIBLE}]*[^@{_BLANK}{_INVISIBLE}][^@{_BLANK}]*@[^{_BLANK}]*\.[^{_BLANK}]*"
    rf"[{_BLANK}{_INVISIBLE}]*$"
)
NAME_REGEX = rf"[^{_BLANK}]"  # domain.ids.check_name: something besides blanks

LoginEmail = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Email = Annotated[
    str, msgspec.Meta(max_length=254, pattern=EMAIL_REGEX, description="An email address: `local@domain`.")
]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
NewPassword = Annotated[  # gateway.auth.passwords.password_problem
    str, msgspec.Meta(min_length=8, max_length=1024, description="A new password: 8 to 1024 characters.")
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME_REGEX)]
Role = Literal["org_admin", "org_member", "viewer"]


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every response body."""


# --- auth ------------------------------------------------------------------------------------------


class LoginBody(Body, frozen=True, kw_only=True):
    email: LoginEmail
    password: Password
    org_id: UUID | None = None


class RefreshBody(Body, frozen=True, kw_only=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class SwitchOrgBody(Body, frozen=True, kw_only=True):
    target_org_id: UUID
    current_token: str | None = None


class TokenReply(Reply, frozen=True, kw_only=True):
    """Login, refresh and switch-org answer with both the REST doc's and the AuthService proto's names."""

    token: str
    expires_at: datetime
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str
    user_id: UUID
    org_id: UUID


class UserOrgEntry(Reply, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str
    role: str


class UserOrgsReply(Reply, frozen=True, kw_only=True):
    orgs: list[UserOrgEntry]


# --- admin -----------------------------------------------------------------------------------------


class InvitationEntry(Reply, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str
    role: str
    invited_at: datetime


class InvitationsReply(Reply, frozen=True, kw_only=True):
    invitations: list[InvitationEntry]


class CreateOrgBody(Body, frozen=True, kw_only=True):
    name: Name


class OrgReply(Reply, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str
    created_at: datetime | None = None
    position: int | None = None


class OrgsReply(Reply, frozen=True, kw_only=True):
    orgs: list[OrgReply]


class SeedUserBody(Body, frozen=True, kw_only=True):
    email: Email
    password: NewPassword
    display_name: Name | None = None


# --- management ------------------------------------------------------------------------------------


class CreateProjectBody(Body, frozen=True, kw_only=True):
    name: Name
    org_id: UUID | None = None


class ProjectReply(Reply, frozen=True, kw_only=True):
    project_id: UUID
    project_name: str
    org_id: UUID
    created_at: datetime | None = None
    position: int | None = None


class ProjectsReply(Reply, frozen=True, kw_only=True):
    projects: list[ProjectReply]


class CreateEnvironmentBody(Body, frozen=True, kw_only=True):
    __path_ids__: ClassVar[Mapping[str, str]] = {"project_id": "project_id"}

    name: Name
    project_id: UUID | None = None


class EnvironmentReply(Reply, frozen=True, kw_only=True):
    environment_id: UUID
    environment_name: str
    project_id: UUID
    created_at: datetime | None = None
    position: int | None = None


class EnvironmentsReply(Reply, frozen=True, kw_only=True):
    environments: list[EnvironmentReply]


class CreateSdkKeyBody(Body, frozen=True, kw_only=True):
    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "environment_id"}

    name: Name | None = None
    environment_id: UUID | None = None


class SdkKeyReply(Reply, frozen=True, kw_only=True):
    """An SDK key as listed: never the raw key, only its prefix."""

    sdk_key_id: UUID
    environment_id: UUID
    name: str
    prefix: str
    status: Literal["active", "revoked"]
    created_at: datetime
    revoked_at: datetime | None = None
    position: int | None = None


class CreatedSdkKeyReply(SdkKeyReply, frozen=True, kw_only=True):
    """The one answer that carries the raw key: store it now, it is never shown again."""

    raw_key: str = ""


class SdkKeysReply(Reply, frozen=True, kw_only=True):
    sdk_keys: list[SdkKeyReply]


class CreateUserBody(Body, frozen=True, kw_only=True):
    """The seed's CreateUserRequest; `org_id` names the caller's organisation (or the path's, on
    /v1/admin/orgs/{org_id}/users)."""

    __path_ids__: ClassVar[Mapping[str, str]] = {"org_id": "org_id"}

    email: Email
    password: NewPassword
    display_name: Name | None = None
    org_role: Role = "org_member"
    org_id: UUID | None = None


class UserReply(Reply, frozen=True, kw_only=True):
    user_id: UUID
    email: str
    display_name: str
    org_role: str
    position: int | None = None


class UsersReply(Reply, frozen=True, kw_only=True):
    users: list[UserReply]


class ChangePasswordBody(Body, frozen=True, kw_only=True):
    new_password: NewPassword
    current_password: Password | None = None


class PositionReply(Reply, frozen=True, kw_only=True):
    """A mutation with nothing else to say: where its events landed, for read-your-writes."""

    position: int
