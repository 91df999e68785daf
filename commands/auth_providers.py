"""Auth-provider handlers and the org's "require SSO" switch (load -> decide -> append).

One small module so it can move onto the command bus as it is: every handler takes its command and
keyword-only collaborators and answers where its events landed. Secrets arrive already sealed.
"""

from __future__ import annotations

from commands.eventstore import EventStore, Metadata
from commands.tenancy import Clock, Written, decide_and_append, load_org
from domain.auth_providers import provider as providers
from domain.auth_providers.commands import CreateAuthProvider, DeleteAuthProvider, UpdateAuthProvider
from domain.tenancy import org as orgs
from domain.tenancy.commands import SetOrgSsoRequirement

STREAM_TYPE = "auth_provider"
AuthProviderChange = CreateAuthProvider | UpdateAuthProvider | DeleteAuthProvider


def _decide(cmd: AuthProviderChange, clock: Clock) -> providers.Decider:
    match cmd:
        case CreateAuthProvider():
            return lambda s: providers.create(s, cmd, clock())
        case UpdateAuthProvider():
            return lambda s: providers.update(s, cmd, clock())
        case DeleteAuthProvider():
            return lambda s: providers.delete(s, cmd, clock())


async def change_auth_provider(
    cmd: AuthProviderChange, *, store: EventStore, clock: Clock, actor: str
) -> Written:
    """Create, update or delete a provider of `cmd.org_id` (another organisation's is not found)."""
    await load_org(store, cmd.org_id)
    meta = Metadata(actor=actor, org_id=cmd.org_id)
    _, written = await decide_and_append(
        store, cmd.provider_id, STREAM_TYPE, providers.replay, _decide(cmd, clock),
        command_id=cmd.command_id, metadata=meta,
    )  # fmt: skip
    return written


async def set_sso_requirement(
    cmd: SetOrgSsoRequirement, *, store: EventStore, clock: Clock, actor: str
) -> Written:
    """Require SSO for the organisation's password logins, or stop requiring it."""
    meta = Metadata(actor=actor, org_id=cmd.org_id)
    _, written = await decide_and_append(
        store, cmd.org_id, "org", orgs.replay, lambda s: orgs.set_sso_requirement(s, cmd, clock()),
        command_id=cmd.command_id, metadata=meta,
    )  # fmt: skip
    return written
