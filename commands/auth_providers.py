"""Auth-provider handlers and the org's "require SSO" switch, on the command bus (commands/handlers.py).

Secrets arrive already sealed: a command never holds one in clear.
"""

from __future__ import annotations

from collections.abc import Mapping

from commands.bus import Context, Handler
from commands.kinds import AUTH_PROVIDER, ORG
from domain.auth_providers import provider as providers
from domain.auth_providers.commands import CreateAuthProvider, DeleteAuthProvider, UpdateAuthProvider
from domain.errors import OrgNotFound
from domain.events import Command
from domain.tenancy import org as orgs
from domain.tenancy.commands import SetOrgSsoRequirement

AuthProviderChange = CreateAuthProvider | UpdateAuthProvider | DeleteAuthProvider


async def change_auth_provider(cmd: AuthProviderChange, ctx: Context) -> None:
    """Create, update or delete a provider of `cmd.org_id` (another organisation's is not found)."""
    state: providers.AuthProvider | None = await ctx.load(AUTH_PROVIDER, cmd.provider_id)
    match cmd:
        case CreateAuthProvider():
            events = providers.create(state, cmd, ctx.now)
        case UpdateAuthProvider():
            events = providers.update(state, cmd, ctx.now)
        case DeleteAuthProvider():
            events = providers.delete(state, cmd, ctx.now)
    ctx.emit(cmd.provider_id, events)


async def set_sso_requirement(cmd: SetOrgSsoRequirement, ctx: Context) -> None:
    """Require SSO for the organisation's password logins, or stop requiring it."""
    org: orgs.Org | None = await ctx.load(ORG, cmd.org_id)
    if org is None:
        raise OrgNotFound(f"organisation {cmd.org_id} not found")
    ctx.emit(cmd.org_id, orgs.set_sso_requirement(org, cmd, ctx.now))


def auth_provider_handlers() -> Mapping[type[Command], Handler]:
    """This module's rows of the bus's handler table."""
    return {
        CreateAuthProvider: change_auth_provider,
        UpdateAuthProvider: change_auth_provider,
        DeleteAuthProvider: change_auth_provider,
        SetOrgSsoRequirement: set_sso_requirement,
    }
