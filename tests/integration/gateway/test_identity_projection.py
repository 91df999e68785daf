"""The identity projection: a rebuild from the event log reproduces the live rm_* tables exactly."""

from __future__ import annotations

import pytest

from projections import identity
from projections.rebuild import rebuild
from tests.integration.gateway.support import PASSWORD, Api, api_fixture  # noqa: F401
from tests.integration.projections.conftest import snapshot
from tests.stack import Stack, stack  # noqa: F401

pytestmark = pytest.mark.integration


async def test_rebuild_reproduces_users_memberships_and_keys(api: Api, stack: Stack) -> None:  # noqa: F811
    tenant = await api.tenant()
    keys = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
    await api.ok("POST", keys, token=tenant.token, json={"name": "second"})
    await api.ok("DELETE", f"{keys}/{tenant.sdk_key_id}", token=tenant.token)
    for email, role in (("m@acme.test", "org_member"), ("v@acme.test", "viewer")):
        body = {"email": email, "password": PASSWORD, "org_role": role}
        await api.ok("POST", "/v1/management/users", token=tenant.token, json=body)
    viewer = next(
        u["user_id"]
        for u in (await api.ok("GET", "/v1/management/users", token=tenant.token))["users"]
        if u["email"] == "v@acme.test"
    )
    await api.ok("DELETE", f"/v1/management/users/{viewer}", token=tenant.token)
    other = await api.tenant("Other")  # invites Acme's member: a pending invitation, its typed name
    body = {"email": "m@acme.test", "password": PASSWORD, "display_name": "Typed by Other"}
    await api.ok("POST", "/v1/management/users", token=other.token, json=body)
    await stack.settle()
    live = await snapshot(stack.pg_url, identity.TABLES)
    assert all(live.values())

    await rebuild(stack.pg_url, identity)

    assert await snapshot(stack.pg_url, identity.TABLES) == live
