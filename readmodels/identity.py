"""Identity queries over rm_users, rm_memberships and rm_sdk_keys (eventually consistent with the log)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from domain.ids import canonical_email
from domain.tenancy.org import SYSTEM_ORG_ID
from readmodels.db import ReadDb, fetch_all, fetch_one


class UserCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """A live user with what login needs (hash and generation from the vault's `auth_credentials`);
    `token_generation` invalidates older tokens when it grows."""

    user_id: UUID
    email: str
    display_name: str
    password_hash: str
    token_generation: int


class MemberRow(msgspec.Struct, frozen=True, kw_only=True):
    user_id: UUID
    email: str
    display_name: str
    role: str


class OrgMembership(msgspec.Struct, frozen=True, kw_only=True):
    org_id: UUID
    role: str
    joined_at: datetime


class SdkKeyRow(msgspec.Struct, frozen=True, kw_only=True):
    key_id: UUID
    environment_id: UUID
    project_id: UUID | None
    org_id: UUID | None
    name: str
    prefix: str
    status: str
    created_at: datetime
    revoked_at: datetime | None
    position: int


_USER = (
    "SELECT u.user_id, u.email, u.display_name, c.password_hash, c.generation AS token_generation"
    " FROM rm_users u JOIN auth_credentials c ON c.user_id = u.user_id WHERE NOT u.removed"
)
_KEY = (
    "SELECT key_id, environment_id, project_id, org_id, name, prefix, status, created_at, revoked_at,"
    " position FROM rm_sdk_keys"
)


async def user_by_email(db: ReadDb, email: str) -> UserCredentials | None:
    """The live user holding the (lower-cased) email."""
    return await fetch_one(db, _USER + " AND u.email = %s", (canonical_email(email),), UserCredentials)


async def user_by_id(db: ReadDb, user_id: UUID) -> UserCredentials | None:
    """The live user with that id (None once removed)."""
    return await fetch_one(db, _USER + " AND u.user_id = %s", (user_id,), UserCredentials)


async def any_member(db: ReadDb, org_id: UUID) -> bool:
    """True when at least one live user belongs to the org."""
    rows = await fetch_all(
        db,
        "SELECT org_id, role, joined_at FROM rm_memberships WHERE org_id = %s LIMIT 1",
        (org_id,),
        OrgMembership,
    )
    return bool(rows)


async def memberships(db: ReadDb, user_id: UUID) -> list[OrgMembership]:
    """The user's organisations with roles, oldest membership first."""
    return await fetch_all(
        db,
        "SELECT org_id, role, joined_at FROM rm_memberships WHERE user_id = %s ORDER BY joined_at, org_id",
        (user_id,),
        OrgMembership,
    )


async def role_in_org(db: ReadDb, user_id: UUID, org_id: UUID) -> str | None:
    """The user's role in the org, or None when not a member."""
    rows = [m for m in await memberships(db, user_id) if m.org_id == org_id]
    return rows[0].role if rows else None


async def org_members(db: ReadDb, org_id: UUID) -> list[MemberRow]:
    """Live members of the org and the accounts it invited, by email. An invited account shows the name
    the organisation typed, never the one its owner chose (nothing leaks from the account's other orgs)."""
    return await fetch_all(
        db,
        "SELECT u.user_id, u.email, u.display_name, m.role FROM rm_memberships m"
        " JOIN rm_users u ON u.user_id = m.user_id WHERE m.org_id = %s AND NOT u.removed"
        " UNION ALL SELECT u.user_id, u.email, i.display_name, i.role FROM rm_invitations i"
        " JOIN rm_users u ON u.user_id = i.user_id WHERE i.org_id = %s AND NOT u.removed"
        " ORDER BY email",
        (org_id, org_id),
        MemberRow,
    )


class InvitationRow(msgspec.Struct, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str
    role: str
    invited_at: datetime


async def invitations(db: ReadDb, user_id: UUID) -> list[InvitationRow]:
    """The organisations that invited the account and wait for its answer, oldest first."""
    return await fetch_all(
        db,
        "SELECT i.org_id, o.name AS org_name, i.role, i.invited_at FROM rm_invitations i"
        " JOIN rm_orgs o ON o.id = i.org_id WHERE i.user_id = %s ORDER BY i.invited_at, i.org_id",
        (user_id,),
        InvitationRow,
    )


async def is_invited(db: ReadDb, user_id: UUID, org_id: UUID) -> bool:
    """True while the org's invitation of the account is pending."""
    return any(i.org_id == org_id for i in await invitations(db, user_id))


async def sdk_key_by_hash(db: ReadDb, key_hash: str) -> SdkKeyRow | None:
    """The active key with that hash."""
    return await fetch_one(db, _KEY + " WHERE key_hash = %s AND status = 'active'", (key_hash,), SdkKeyRow)


async def sdk_keys(db: ReadDb, environment_id: UUID) -> list[SdkKeyRow]:
    """The environment's keys, active and revoked, oldest first."""
    return await fetch_all(
        db, _KEY + " WHERE environment_id = %s ORDER BY created_at, key_id", (environment_id,), SdkKeyRow
    )


class OrgEntry(msgspec.Struct, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str
    role: str
    is_system: bool


class OrgSummary(msgspec.Struct, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str
    is_system: bool
    created_at: datetime


async def user_orgs(db: ReadDb, user_id: UUID) -> list[OrgEntry]:
    """The user's organisations with names and roles, oldest membership first."""
    return await fetch_all(
        db,
        "SELECT m.org_id, o.name AS org_name, m.role, o.is_system FROM rm_memberships m"
        " JOIN rm_orgs o ON o.id = m.org_id WHERE m.user_id = %s ORDER BY m.joined_at, m.org_id",
        (user_id,),
        OrgEntry,
    )


async def all_orgs(db: ReadDb) -> list[OrgSummary]:
    """Every organisation, oldest first (system admins only)."""
    return await fetch_all(
        db,
        "SELECT id AS org_id, name AS org_name, is_system, created_at FROM rm_orgs ORDER BY created_at, id",
        (),
        OrgSummary,
    )


# Whether membership `m` of user `u` may not use a password session: its org requires SSO and the user
# is no member of the system organisation (the break-glass path).
SSO_REQUIRED_SQL = (
    "(coalesce((SELECT o.require_sso FROM rm_org_sso o WHERE o.org_id = m.org_id), false)"
    " AND NOT EXISTS (SELECT 1 FROM rm_memberships sm WHERE sm.user_id = u.user_id"
    f" AND sm.org_id = '{SYSTEM_ORG_ID}'))"
)


class TokenSubject(msgspec.Struct, frozen=True, kw_only=True):
    token_generation: int
    role: str
    session_live: bool | None  # None: no such session of this user
    bound_org_id: UUID | None = None  # an SSO session: it acts in this organisation only
    sso_required: bool = False  # the org requires SSO and the user is no system member (issue 13)


async def token_subject(
    db: ReadDb, user_id: UUID, org_id: UUID, *, session_id: UUID, now: datetime
) -> TokenSubject | None:
    """A live user's token generation (from the vault), role in the org and whether the token's session is
    still live, in one round trip; None if gone or not a member."""
    return await fetch_one(
        db,
        "SELECT c.generation AS token_generation, m.role,"
        " (s.revoked_at IS NULL AND s.expires_at > %s) AS session_live, s.bound_org_id,"
        f" {SSO_REQUIRED_SQL} AS sso_required"
        " FROM rm_users u JOIN rm_memberships m ON m.user_id = u.user_id"
        " JOIN auth_credentials c ON c.user_id = u.user_id"
        " LEFT JOIN auth_sessions s ON s.family_id = %s AND s.user_id = u.user_id"
        " WHERE u.user_id = %s AND m.org_id = %s AND NOT u.removed",
        (now, session_id, user_id, org_id),
        TokenSubject,
    )


class _SsoOrg(msgspec.Struct, frozen=True, kw_only=True):
    org_id: UUID


async def sso_required_orgs(db: ReadDb, user_id: UUID) -> set[UUID]:
    """The user's organisations that refuse its password sessions (they require SSO)."""
    rows = await fetch_all(
        db,
        "SELECT m.org_id FROM rm_memberships m JOIN rm_users u ON u.user_id = m.user_id"
        f" WHERE m.user_id = %s AND {SSO_REQUIRED_SQL}",
        (user_id,),
        _SsoOrg,
    )
    return {r.org_id for r in rows}
