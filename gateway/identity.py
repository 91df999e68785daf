"""/v1/auth (login, refresh, switch-org, org listing) and /v1/admin (organisations, first admin)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4, uuid5

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands.tenancy import create_org
from domain.tenancy.commands import CreateOrg
from domain.tenancy.org import SYSTEM_ORG_ID
from gateway.auth.addresses import client_address
from gateway.auth.guards import BEARER, NO_AUTH, require_system_admin, system_admin
from gateway.auth.passwords import PasswordChecksBusy
from gateway.auth.principals import Caller, authenticate, bearer_token, caller_from_token
from gateway.auth.refresh import RefreshGrant, new_family
from gateway.auth.sessions import session_binding, session_end, start_session
from gateway.auth.tokens import issue_access_token
from gateway.deps import GatewayDeps
from gateway.errors import (
    SSO_REQUIRED_MESSAGE,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SsoRequired,
    Unauthenticated,
)
from gateway.tenancy import command_ids
from gateway.tenancy_users import create_user, set_password
from gateway.writes import IdempotencyKey
from readmodels import directory, identity
from schemas.http_identity import (
    ChangePasswordBody,
    CreateOrgBody,
    CreateUserBody,
    LoginBody,
    OrgReply,
    OrgsReply,
    PositionReply,
    RefreshBody,
    SeedUserBody,
    SwitchOrgBody,
    TokenReply,
    UserOrgEntry,
    UserOrgsReply,
    UserReply,
)

# Every "first admin" seeding uses this command id, so two racing seeds append only once.
FIRST_ADMIN_COMMAND_ID = uuid5(SYSTEM_ORG_ID, "seed-first-admin")


async def issue_tokens(
    deps: GatewayDeps, user_id: UUID, org_id: UUID, generation: int, family: UUID
) -> TokenReply:
    """A fresh access token and a rotated refresh token of the session `family`, neither outliving it."""
    now = deps.clock()
    ends = await session_end(deps.db, family, now=now)
    if ends is None:
        raise Unauthenticated("session ended: log in again")
    access = issue_access_token(
        deps.tokens, user_id=user_id, org_id=org_id, credentials_version=generation, session_id=family,
        now=now, session_ends=ends,
    )  # fmt: skip
    grant = RefreshGrant(user_id=user_id, org_id=org_id, credentials_version=generation, family_id=family)
    expires_at = min(now + deps.tokens.refresh_ttl, ends)
    refresh = await deps.refresh_tokens.issue(grant, now=now, expires_at=expires_at)
    return TokenReply(
        token=access.token,
        expires_at=access.expires_at,
        access_token=access.token,
        refresh_token=refresh,
        expires_in=access.expires_in,
        token_type="Bearer",
        user_id=user_id,
        org_id=org_id,
    )


def _client_address(request: Request[Any, Any, Any], deps: GatewayDeps) -> str:
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), deps.settings.trusted_proxies)


async def _checked_login(deps: GatewayDeps, data: LoginBody, address: str) -> identity.UserCredentials:
    """The account if the password is right; every attempt reserves its throttle tokens first."""
    throttle = deps.login_throttle()
    wait = throttle.reserve(data.email, address)
    if wait > 0:
        raise ResourceExhausted(
            "too many failed logins, retry later", headers={"Retry-After": str(int(wait) + 1)}
        )
    try:
        user = await identity.user_by_email(deps.db, data.email)
        right = await deps.passwords.verify(user.password_hash if user else None, data.password)
    except PasswordChecksBusy:
        throttle.cancel(data.email, address)  # no password was tried: not a failure
        raise
    if not right or user is None:
        raise Unauthenticated("invalid email or password")
    throttle.succeeded(data.email, address)
    return user


async def _password_org(deps: GatewayDeps, user_id: UUID, wanted: UUID | None) -> UUID:
    """The organisation a password login acts in: the one asked for, else the first that allows
    passwords; SSO_REQUIRED when the choice requires SSO (checked after the password: no oracle)."""
    orgs = [m.org_id for m in await identity.memberships(deps.db, user_id)]
    if wanted is not None and wanted not in orgs:
        raise PermissionDenied("not a member of that organisation")
    if not orgs:
        raise PermissionDenied("not a member of that organisation")
    sso_only = await identity.sso_required_orgs(deps.db, user_id)
    allowed = [o for o in orgs if o not in sso_only]
    chosen = wanted if wanted is not None else (allowed[0] if allowed else orgs[0])
    if chosen in sso_only:
        raise SsoRequired(SSO_REQUIRED_MESSAGE)
    return chosen


async def check_session_org(deps: GatewayDeps, user_id: UUID, org_id: UUID, family: UUID) -> None:
    """A session may act in `org_id`: an SSO session only in its own, a password session only where
    SSO is not required."""
    bound = await session_binding(deps.db, family)
    if bound is not None and bound != org_id:
        raise PermissionDenied("a single sign-on session acts in its own organisation only")
    if bound is None and org_id in await identity.sso_required_orgs(deps.db, user_id):
        raise SsoRequired(SSO_REQUIRED_MESSAGE)


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/login", security=NO_AUTH, status_code=200)
    async def login(
        self, request: Request[Any, Any, Any], data: JSONBody[LoginBody], deps: NamedDependency[GatewayDeps]
    ) -> TokenReply:
        """Email + password for a JWT (24 h default) and a refresh token; failures are throttled."""
        user = await _checked_login(deps, data, _client_address(request, deps))
        org_id = await _password_org(deps, user.user_id, data.org_id)
        family, now = new_family(), deps.clock()
        ends = now + deps.tokens.session_max_age
        await start_session(deps.db, family_id=family, user_id=user.user_id, now=now, ends_at=ends)
        return await issue_tokens(deps, user.user_id, org_id, user.token_generation, family)

    @post("/refresh", security=NO_AUTH, status_code=200)
    async def refresh(self, data: JSONBody[RefreshBody], deps: NamedDependency[GatewayDeps]) -> TokenReply:
        """Trade a refresh token for new tokens; each refresh token works once."""
        grant = await deps.refresh_tokens.consume(data.refresh_token, now=deps.clock())
        user = await identity.user_by_id(deps.db, grant.user_id) if grant else None
        if grant is None or user is None or user.token_generation != grant.credentials_version:
            raise Unauthenticated("invalid refresh token")
        if await identity.role_in_org(deps.db, grant.user_id, grant.org_id) is None:
            raise Unauthenticated("invalid refresh token: no longer a member of the organisation")
        await check_session_org(deps, grant.user_id, grant.org_id, grant.family_id)
        return await issue_tokens(deps, user.user_id, grant.org_id, user.token_generation, grant.family_id)

    @post("/switch-org", security=BEARER, status_code=200)
    async def switch_org(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SwitchOrgBody],
        deps: NamedDependency[GatewayDeps],
    ) -> TokenReply:
        """New tokens for another organisation the caller belongs to (404 for any other), in the same
        session: switching never extends its absolute lifetime."""
        if bearer_token(request) is None and data.current_token:
            caller = await caller_from_token(deps, data.current_token)  # the proto's current_token field
        else:
            caller = await authenticate(request)
        if await identity.role_in_org(deps.db, caller.user_id, data.target_org_id) is None:
            raise NotFound(f"organisation {data.target_org_id} not found")
        user = await identity.user_by_id(deps.db, caller.user_id)
        if user is None:
            raise Unauthenticated("token revoked")
        assert caller.session_id is not None  # every verified access token names its session
        await check_session_org(deps, user.user_id, data.target_org_id, caller.session_id)
        return await issue_tokens(
            deps, user.user_id, data.target_org_id, user.token_generation, caller.session_id
        )

    @put("/password", security=BEARER)
    async def change_own_password(
        self,
        data: JSONBody[ChangePasswordBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> PositionReply:
        """Change your own password (any organisation, the system one too); every older token dies.
        A single sign-on session cannot: its IdP vouches for one organisation, not for the account."""
        if caller.bound_org_id is not None:
            raise PermissionDenied("a single sign-on session cannot change the account's password")
        user = await identity.user_by_id(deps.db, caller.user_id)
        if user is None:
            raise Unauthenticated("token revoked")
        return await set_password(deps, user, data, actor=caller.actor, own=True)

    @get("/orgs", security=BEARER)
    async def orgs(
        self, caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> UserOrgsReply:
        """The caller's organisations with roles (the system organisation is not listed; a single sign-on
        session sees its own organisation only)."""
        rows = await identity.user_orgs(deps.db, caller.user_id)
        return UserOrgsReply(
            orgs=[
                UserOrgEntry(org_id=r.org_id, org_name=r.org_name, role=r.role)
                for r in rows
                if not r.is_system and caller.bound_org_id in (None, r.org_id)
            ]
        )


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]

    @post("/orgs", guards=[system_admin], security=BEARER)
    async def create_org(
        self,
        data: JSONBody[CreateOrgBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> OrgReply:
        """A new organisation. Its creator does not join it: give it its first admin with
        POST /v1/admin/orgs/{org_id}/users (system admins are strangers to every tenant)."""
        command_id, org_id = await command_ids(caller.user_id, "org", idempotency_key, body=data, db=deps.db)
        cmd = CreateOrg(command_id=command_id, org_id=org_id, name=data.name)
        written = await create_org(cmd, store=deps.store, clock=deps.clock, actor=caller.actor)
        position = await deps.settle(written.position)
        row = await directory.get_org(deps.db, org_id)
        created_at = row.created_at if row is not None else None
        return OrgReply(org_id=org_id, org_name=data.name.strip(), created_at=created_at, position=position)

    @get("/orgs", guards=[system_admin], security=BEARER)
    async def list_orgs(self, deps: NamedDependency[GatewayDeps]) -> OrgsReply:
        """Every organisation, the system one included."""
        rows = await identity.all_orgs(deps.db)
        return OrgsReply(
            orgs=[OrgReply(org_id=r.org_id, org_name=r.org_name, created_at=r.created_at) for r in rows]
        )

    @post("/orgs/{org_id:uuid}/users", guards=[system_admin], security=BEARER)
    async def create_org_user(
        self,
        org_id: FromPath[UUID],
        data: JSONBody[CreateUserBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> UserReply:
        """A user in any organisation (how a new organisation gets its first admin)."""
        if await directory.get_org(deps.db, org_id) is None:
            raise NotFound(f"organisation {org_id} not found")
        command_id, user_id = await command_ids(org_id, "user", idempotency_key, body=data, db=deps.db)
        return await create_user(
            deps, data, org_id=org_id, actor=caller.actor, command_id=command_id, user_id=user_id
        )

    @post("/seed-user", security=NO_AUTH)
    async def seed_user(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SeedUserBody],
        deps: NamedDependency[GatewayDeps],
    ) -> UserReply:
        """Bootstrap a system admin: open while the system org has no member, then for system admins only."""
        body = CreateUserBody(
            email=data.email, password=data.password, display_name=data.display_name, org_role="org_admin"
        )
        if await identity.any_member(deps.db, SYSTEM_ORG_ID):
            caller = await require_system_admin(request)
            return await create_user(deps, body, org_id=SYSTEM_ORG_ID, actor=caller.actor, command_id=uuid4())
        return await create_user(
            deps,
            body,
            org_id=SYSTEM_ORG_ID,
            actor="bootstrap",
            command_id=FIRST_ADMIN_COMMAND_ID,
            repeat_message="the first admin was already seeded",
        )
