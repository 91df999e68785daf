"""/v1/management/users: an organisation's accounts, roles and passwords (scoped to the caller's org)."""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands.identity import account_of, forget_account
from commands.streams import OrgScope
from domain.ids import canonical_email
from domain.tenancy.commands import ChangePassword, RegisterUser, RemoveMembership, RemoveUser
from domain.tenancy.events import OrgRole
from gateway.auth.authority import Action, managed_member
from gateway.auth.guards import BEARER, org_admin, tenant_reader
from gateway.auth.passwords import PasswordChecksBusy, password_problem
from gateway.auth.principals import Caller
from gateway.deps import GatewayDeps
from gateway.errors import InvalidArgument, NotFound, PermissionDenied, ResourceExhausted
from gateway.tenancy import command_ids, own_org
from gateway.writes import IdempotencyKey
from readmodels import identity
from schemas.http_identity import ChangePasswordBody, CreateUserBody, PositionReply, UserReply, UsersReply

_ROLES = {"org_admin": OrgRole.ORG_ADMIN, "org_member": OrgRole.ORG_MEMBER, "viewer": OrgRole.VIEWER}


async def create_user(
    deps: GatewayDeps,
    data: CreateUserBody,
    *,
    org_id: UUID,
    actor: str,
    command_id: UUID,
    user_id: UUID | None = None,
    repeat_message: str | None = None,
) -> UserReply:
    """Hash the password, register the user in `org_id` and wait for the read model.

    A repeated command answers as the first time, unless `repeat_message` says repeats are refused.
    """
    problem = password_problem(data.password)
    if problem:
        raise InvalidArgument(problem)
    email = canonical_email(data.email)
    display_name = data.display_name or email.partition("@")[0]
    cmd = RegisterUser(
        command_id=command_id,
        user_id=user_id or uuid4(),
        email=email,
        display_name=display_name,
        password_hash=await deps.passwords.hash(data.password),
        org_id=org_id,
        role=_ROLES[data.org_role],
    )
    outcome = await deps.bus.handle(cmd, OrgScope(actor=actor, org_id=org_id))
    if outcome.repeated and repeat_message is not None:
        raise PermissionDenied(repeat_message)
    return UserReply(
        user_id=account_of(outcome, cmd),  # an existing account's id when the address was invited
        email=email,
        display_name=display_name.strip(),
        org_role=data.org_role,
        position=await deps.settle(outcome.position),
    )


class UserController(Controller):
    path = "/v1/management/users"
    tags = ["management"]
    security = BEARER

    @post("/", guards=[org_admin])
    async def create(
        self,
        data: JSONBody[CreateUserBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> UserReply:
        """A user account in the caller's organisation (`org_role`: org_admin, org_member or viewer)."""
        own_org(caller, data.org_id)
        command_id, user_id = await command_ids(caller.org_id, "user", idempotency_key, body=data, db=deps.db)
        return await create_user(
            deps, data, org_id=caller.org_id, actor=caller.actor, command_id=command_id, user_id=user_id
        )

    @get("/", guards=[tenant_reader])
    async def list_users(
        self, caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> UsersReply:
        """The members of the caller's organisation."""
        rows = await identity.org_members(deps.db, caller.org_id)
        return UsersReply(
            users=[
                UserReply(user_id=r.user_id, email=r.email, display_name=r.display_name, org_role=r.role)
                for r in rows
            ]
        )

    @delete("/{user_id:uuid}", guards=[org_admin], status_code=200)
    async def remove(
        self, user_id: FromPath[UUID], caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> PositionReply:
        """Remove the user from the organisation (the account too when it was the last one); tokens die.
        An account the organisation only invited has its invitation withdrawn.

        Ending the membership in the caller's own organisation is an org admin's call; deleting the
        account needs the right to manage its credentials (`gateway.auth.authority`).
        """
        if user_id == caller.user_id:
            raise InvalidArgument("you cannot remove yourself")
        scope = OrgScope(actor=caller.actor, org_id=caller.org_id)
        leave = RemoveMembership(command_id=uuid4(), user_id=user_id, org_id=caller.org_id)
        if await identity.is_invited(deps.db, user_id, caller.org_id):  # withdraw the invitation
            return PositionReply(position=await deps.settle((await deps.bus.handle(leave, scope)).position))
        target = await managed_member(deps, caller, user_id, Action.END_MEMBERSHIP)
        last = target.orgs == {caller.org_id}  # its last organisation: the account goes too, atomically
        steps = [leave, RemoveUser(command_id=uuid4(), user_id=user_id)] if last else [leave]
        outcome = await deps.bus.handle_changeset(steps, scope, command_id=leave.command_id)
        if last:
            await forget_account(deps.identity_vault(), user_id)
            await deps.refresh_tokens.revoke_user(user_id, now=deps.clock())
        return PositionReply(position=await deps.settle(outcome.position))

    @put("/{user_id:uuid}/password", guards=[tenant_reader])
    async def set_password(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[ChangePasswordBody],
        caller: NamedDependency[Caller],
        deps: NamedDependency[GatewayDeps],
    ) -> PositionReply:
        """Change a password: your own with the current one, or, as org admin, that of a member whose
        every organisation you administer (`gateway.auth.authority`); old tokens die."""
        if user_id == caller.user_id:
            own = await identity.user_by_id(deps.db, user_id)
            if own is None:
                raise NotFound(f"user {user_id} not found")
            return await set_password(deps, own, data, actor=caller.actor, own=True)
        target = await managed_member(deps, caller, user_id, Action.SET_CREDENTIALS)
        return await set_password(deps, target.user, data, actor=caller.actor, own=False)


async def _check_current(deps: GatewayDeps, user: identity.UserCredentials, password: str) -> None:
    throttle, lane = deps.login_throttle(), f"user:{user.user_id}"
    wait = throttle.reserve(user.email, lane)
    if wait > 0:
        raise ResourceExhausted(
            "too many wrong passwords, retry later", headers={"Retry-After": str(int(wait) + 1)}
        )
    try:
        right = await deps.passwords.verify(user.password_hash, password)
    except PasswordChecksBusy:
        throttle.cancel(user.email, lane)
        raise
    if not right:
        raise PermissionDenied("current_password is wrong")
    throttle.succeeded(user.email, lane)


async def set_password(
    deps: GatewayDeps, user: identity.UserCredentials, data: ChangePasswordBody, *, actor: str, own: bool
) -> PositionReply:
    """Store a new password hash (your own needs the current password); every older token dies.

    Checking the current password is throttled like a login (a stolen token must not become an oracle).
    """
    if own:
        await _check_current(deps, user, data.current_password or "")
    problem = password_problem(data.new_password)
    if problem:
        raise InvalidArgument(problem)
    digest = await deps.passwords.hash(data.new_password)
    cmd = ChangePassword(command_id=uuid4(), user_id=user.user_id, password_hash=digest)
    outcome = await deps.bus.handle(cmd, OrgScope(actor=actor))
    await deps.refresh_tokens.revoke_user(user.user_id, now=deps.clock())
    return PositionReply(position=await deps.settle(outcome.position))
