"""A gateway over the in-process stack plus a tenant (org, admin user, project, two environments).

Test modules import the `tenant` fixture (registered under that name) and the stack it needs:
    from tests.integration.gateway.flags_support import Tenant, tenant_fixture  # noqa: F401
    from tests.stack import stack  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

import httpx
import pytest

from commands.tenancy import ensure_system_org
from gateway.app import SYSTEM_ORG_COMMAND_ID, create_app
from gateway.auth.refresh import MemoryRefreshTokens
from gateway.auth.tokens import TokenSettings, utc_now
from gateway.deps import GatewayDeps, PoolWaiter
from stitchd.write_side import write_bus
from tests.stack import Stack

__all__ = [
    "BOOL_FLAG", "PASSWORD", "Tenant", "email_rule", "gateway_deps", "ok", "tenant_fixture",
]  # fmt: skip
ADMIN_EMAIL = "root@example.com"
PASSWORD = "correct-horse-battery-staple"


@dataclass
class Tenant:
    """A logged-in org admin with a project and environments "production" and "staging"."""

    client: httpx.AsyncClient
    stack: Stack
    token: str
    org_id: UUID
    project_id: UUID
    env: UUID
    other_env: UUID
    root_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def flags(self, env: UUID | None = None) -> str:
        return f"/v1/environments/{env or self.env}/flags"

    async def other_org_token(self) -> str:
        """A token of the first admin of a second, unrelated organisation (made by the system admin)."""
        auth = {"authorization": f"Bearer {self.root_token}"}
        org = await ok(await self.client.post("/v1/admin/orgs", json={"name": "Other"}, headers=auth), 201)
        return await org_admin_token(self.client, auth, org["org_id"], f"admin-{org['org_id']}@other.test")

    async def user_token(self, email: str, role: str) -> str:
        """A token of a new user of this organisation with `role` (created by the system admin)."""
        auth = {"authorization": f"Bearer {self.root_token}"}
        body = {"email": email, "password": PASSWORD, "org_role": role}
        await ok(await self.client.post(f"/v1/admin/orgs/{self.org_id}/users", json=body, headers=auth), 201)
        login = {"email": email, "password": PASSWORD, "org_id": str(self.org_id)}
        return str((await ok(await self.client.post("/v1/auth/login", json=login)))["token"])

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """JSON request as the tenant admin; returns the response (status and json)."""
        return await self.client.request(method, path, json=body, headers={**self.auth, **headers})


async def ok(response: Any, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`."""
    assert response.status_code == status, response.text
    return response.json()


def gateway_deps(stack: Stack) -> GatewayDeps:
    return GatewayDeps(
        event_log=stack.store,
        db=stack.pool,
        bus=write_bus(stack.store, stack.pool, clock=utc_now),
        clock=utc_now,
        tokens=TokenSettings(secret="s" * 40),
        waiter=PoolWaiter(stack.pool),
        refresh_tokens=MemoryRefreshTokens(),
    )


async def _bootstrap(client: httpx.AsyncClient) -> tuple[str, UUID, str]:
    """(tenant admin token, org id, system admin token)."""
    await ok(await client.post("/v1/admin/seed-user", json={"email": ADMIN_EMAIL, "password": PASSWORD}), 201)
    login = await ok(await client.post("/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD}))
    auth = {"authorization": f"Bearer {login['token']}"}
    org = await ok(await client.post("/v1/admin/orgs", json={"name": "Acme"}, headers=auth), 201)
    token = await org_admin_token(client, auth, org["org_id"], "admin@acme.test")
    return token, UUID(org["org_id"]), str(login["token"])


async def org_admin_token(client: httpx.AsyncClient, root: dict[str, str], org_id: str, email: str) -> str:
    """The token of a new org admin of `org_id`, created by the system admin (who is no member)."""
    body = {"email": email, "password": PASSWORD, "org_role": "org_admin"}
    await ok(await client.post(f"/v1/admin/orgs/{org_id}/users", json=body, headers=root), 201)
    login = {"email": email, "password": PASSWORD}
    return str((await ok(await client.post("/v1/auth/login", json=login)))["token"])


@pytest.fixture(name="tenant")
async def tenant_fixture(stack: Stack) -> AsyncIterator[Tenant]:
    """An org admin's session with a project and two environments."""
    deps = gateway_deps(stack)
    await ensure_system_org(store=stack.store, clock=deps.clock, command_id=SYSTEM_ORG_COMMAND_ID)
    app = create_app(deps, bootstrap=False)
    # ASGITransport runs the app on this test's event loop, beside the relay and projector (Litestar's
    # AsyncTestClient would block this loop through a portal while a request waits for projections).
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        token, org_id, root_token = await _bootstrap(client)
        auth = {"authorization": f"Bearer {token}"}
        project = await ok(
            await client.post("/v1/management/projects", json={"name": "Web"}, headers=auth), 201
        )
        envs = []
        for name in ("production", "staging"):
            path = f"/v1/management/projects/{project['project_id']}/environments"
            envs.append(await ok(await client.post(path, json={"name": name}, headers=auth), 201))
        yield Tenant(
            client=client,
            stack=stack,
            token=token,
            org_id=org_id,
            project_id=UUID(project["project_id"]),
            env=UUID(envs[0]["environment_id"]),
            other_env=UUID(envs[1]["environment_id"]),
            root_token=root_token,
        )


BOOL_FLAG: dict[str, Any] = {
    "key": "new-checkout",
    "value_type": "bool",
    "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
    "name": "New checkout",
}


def email_rule(domain: str, variant: str = "on") -> dict[str, Any]:
    """A rule serving `variant` to users whose email ends with `domain`."""
    return {
        "condition": {
            "kind": "leaf",
            "attribute": {"context_type": "user", "name": "email"},
            "op": "ends_with",
            "value": domain,
        },
        "serve": {"variant_key": variant},
    }
