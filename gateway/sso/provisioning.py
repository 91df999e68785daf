"""From an identity the IdP asserted to Stitchd tokens: the one function both OIDC and SAML end in.

Rules (issue 13 part 4):
* A subject this provider logged in before is that account (`sso_identities`); if the account was
  removed, or removed from the provider's organisation, the login is refused (never re-provisioned).
* Otherwise the email must be asserted verified. An existing account with that email is linked only if
  it is already a member of the provider's organisation (an IdP vouches for its own tenant only: it
  must not be a way into an account that lives elsewhere); no account: one is provisioned into the
  organisation with the provider's default role (or the role its groups map to).
* The session is bound to the provider's organisation (no switch-org, no password change).
"""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID, uuid5

import msgspec

from commands.identity import register_user, set_membership
from domain.auth_providers.provider import AuthProvider
from domain.ids import canonical_email
from domain.tenancy.commands import RegisterUser, SetMembership
from domain.tenancy.events import OrgRole
from gateway.auth.refresh import new_family
from gateway.auth.sessions import start_session
from gateway.deps import GatewayDeps
from gateway.errors import NotFound, PermissionDenied
from gateway.identity import issue_tokens
from readmodels import identity
from readmodels.db import connection
from schemas.http_identity import TokenReply

_RANK = {OrgRole.VIEWER.value: 0, OrgRole.ORG_MEMBER.value: 1, OrgRole.ORG_ADMIN.value: 2}
MAX_GROUPS = 1000


class AssertedIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """What a verified ID token or SAML assertion says about the person."""

    subject: str
    email: str
    email_verified: bool
    name: str = ""
    groups: tuple[str, ...] = ()


def mapped_role(provider: AuthProvider, groups: tuple[str, ...]) -> str | None:
    """The highest role any asserted group maps to, None when no group maps."""
    roles = [provider.config.group_roles[g] for g in groups[:MAX_GROUPS] if g in provider.config.group_roles]
    return max(roles, key=_RANK.__getitem__) if roles else None


def subject_hash(provider_id: UUID, subject: str) -> str:
    return hashlib.sha256(f"{provider_id}\x00{subject}".encode()).hexdigest()


async def linked_user(deps: GatewayDeps, provider_id: UUID, subject: str) -> UUID | None:
    async with connection(deps.db) as conn:
        cur = await conn.execute(
            "SELECT user_id FROM sso_identities WHERE provider_id = %s AND subject_hash = %s",
            (provider_id, subject_hash(provider_id, subject)),
        )
        row = await cur.fetchone()
    return row[0] if row else None


async def _link(deps: GatewayDeps, provider_id: UUID, subject: str, user_id: UUID) -> None:
    async with connection(deps.db) as conn:
        await conn.execute(
            "INSERT INTO sso_identities (provider_id, subject_hash, user_id, linked_at)"
            " VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (provider_id, subject_hash) DO NOTHING",
            (provider_id, subject_hash(provider_id, subject), user_id, deps.clock()),
        )


def check_usable(provider: AuthProvider, org_id: UUID | None = None) -> None:
    """The provider can log people in now (and belongs to `org_id` when the caller named one)."""
    if provider.deleted or (org_id is not None and org_id != provider.org_id):
        raise NotFound(f"auth provider {provider.id} not found")
    if not provider.config.enabled:
        raise PermissionDenied("this sign-in provider is disabled")


def _check_email(provider: AuthProvider, who: AssertedIdentity) -> str:
    email = canonical_email(who.email)
    domains = provider.config.email_domains
    if domains and email.rpartition("@")[2] not in domains:
        raise PermissionDenied("the identity provider asserted an email outside the provider's domains")
    return email


async def _member(deps: GatewayDeps, user_id: UUID, org_id: UUID) -> str:
    if await identity.user_by_id(deps.db, user_id) is None:
        raise PermissionDenied("this account was removed")
    role = await identity.role_in_org(deps.db, user_id, org_id)
    if role is None:
        raise PermissionDenied("this account is not a member of the provider's organisation")
    return role


async def _provision(deps: GatewayDeps, provider: AuthProvider, who: AssertedIdentity, email: str) -> UUID:
    """A new account in the provider's organisation; ids derived from the subject, so a retry repeats."""
    command_id = uuid5(provider.id, f"sso-provision:{subject_hash(provider.id, who.subject)}")
    user_id = uuid5(command_id, "user")
    role = mapped_role(provider, who.groups) or provider.config.default_role
    cmd = RegisterUser(
        command_id=command_id, user_id=user_id, email=email,
        display_name=(who.name.strip()[:200] or email.partition("@")[0]),
        # Nobody knows this password: the account logs in through its IdP (an admin may set one).
        password_hash=await deps.passwords.hash(secrets.token_urlsafe(32)),
        org_id=provider.org_id, role=OrgRole(role),
    )  # fmt: skip
    actor = f"sso:{provider.id}"
    written = await register_user(
        cmd, store=deps.store, clock=deps.clock, actor=actor, vault=deps.identity_vault()
    )
    if written.stream_id != user_id:  # the address was taken meanwhile: an invitation was sent instead
        raise PermissionDenied("an account with this email exists outside the provider's organisation")
    await deps.settle(written.position)
    return user_id


async def resolve_user(deps: GatewayDeps, provider: AuthProvider, who: AssertedIdentity) -> UUID:
    """The account this identity logs in as (linking or provisioning it), per the module's rules."""
    linked = await linked_user(deps, provider.id, who.subject)
    if linked is not None:
        await _member(deps, linked, provider.org_id)
        return linked
    if not who.email_verified:
        raise PermissionDenied("the identity provider did not assert the email as verified")
    email = _check_email(provider, who)
    existing = await identity.user_by_email(deps.db, email)
    user_id = existing.user_id if existing else await _provision(deps, provider, who, email)
    await _member(deps, user_id, provider.org_id)
    await _link(deps, provider.id, who.subject, user_id)
    return user_id


async def _sync_role(deps: GatewayDeps, provider: AuthProvider, user_id: UUID, who: AssertedIdentity) -> None:
    """When the asserted groups map to a role, the membership follows it at every login."""
    role = mapped_role(provider, who.groups)
    if role is None or role == await identity.role_in_org(deps.db, user_id, provider.org_id):
        return
    cmd = SetMembership(command_id=uuid5(user_id, f"sso-role:{secrets.token_hex(8)}"), user_id=user_id,
                        org_id=provider.org_id, role=OrgRole(role))  # fmt: skip
    written = await set_membership(cmd, store=deps.store, clock=deps.clock, actor=f"sso:{provider.id}")
    await deps.settle(written.position)


async def sso_login(deps: GatewayDeps, provider: AuthProvider, who: AssertedIdentity) -> TokenReply:
    """Tokens exactly like a password login, for the account `who` is, in the provider's organisation."""
    check_usable(provider)
    user_id = await resolve_user(deps, provider, who)
    await _sync_role(deps, provider, user_id, who)
    user = await identity.user_by_id(deps.db, user_id)
    if user is None:
        raise PermissionDenied("this account was removed")
    family, now = new_family(), deps.clock()
    await start_session(
        deps.db, family_id=family, user_id=user_id, now=now, ends_at=now + deps.tokens.session_max_age,
        bound_org_id=provider.org_id,
    )  # fmt: skip
    return await issue_tokens(deps, user_id, provider.org_id, user.token_generation, family)
