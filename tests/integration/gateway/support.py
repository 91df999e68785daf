"""The gateway over the real stack (Postgres store, relay, projector) through HTTP only, plus tenant helpers.

Use from a test module:

    from tests.integration.gateway.support import Api, api_fixture  # noqa: F401  (registers `api`)
    from tests.stack import stack  # noqa: F401

`Api.tenant()` gives a fresh organisation with an admin token, a project, an environment and an SDK key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar

from gateway.app import create_app
from gateway.auth.passwords import Passwords
from gateway.auth.refresh import PostgresRefreshTokens
from gateway.auth.tokens import TokenSettings
from gateway.deps import GatewayDeps, GatewaySettings, PoolWaiter
from projections.registry import PROJECTIONS
from stitchd.write_side import write_bus
from tests.stack import Stack

ROOT_EMAIL = "root@stitchd.test"
PASSWORD = "correct horse battery"


class Clock:
    """A clock tests can move forward (token expiry without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Tenant:
    """An organisation with its admin, one project, one environment and one SDK key."""

    org_id: UUID
    token: str
    project_id: UUID
    environment_id: UUID
    sdk_key: str
    sdk_key_id: UUID
    admin_email: str


@dataclass
class Api:
    client: httpx.AsyncClient
    deps: GatewayDeps
    clock: Clock
    _root: str | None = field(default=None)

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request, with a bearer token when given."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.client.request(method, path, json=json, content=content, headers=all_headers)

    async def ok(self, method: str, path: str, *, token: str | None = None, json: Any = None) -> Any:
        """The JSON body of a request that must succeed."""
        response = await self.call(method, path, token=token, json=json)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json()

    async def login(self, email: str, password: str = PASSWORD, org_id: UUID | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"email": email, "password": password}
        if org_id is not None:
            body["org_id"] = str(org_id)
        result: dict[str, Any] = await self.ok("POST", "/v1/auth/login", json=body)
        return result

    async def root(self) -> str:
        """A system-admin token (the first admin is seeded on first use)."""
        if self._root is None:
            await self.ok("POST", "/v1/admin/seed-user", json={"email": ROOT_EMAIL, "password": PASSWORD})
            self._root = (await self.login(ROOT_EMAIL))["access_token"]
        return self._root

    async def tenant(self, name: str = "Acme") -> Tenant:
        """A fresh organisation whose own admin created a project, an environment and an SDK key."""
        org = await self.ok("POST", "/v1/admin/orgs", token=await self.root(), json={"name": name})
        email = f"admin-{uuid4().hex[:8]}@{name.lower()}.test"
        await self.ok(
            "POST",
            f"/v1/admin/orgs/{org['org_id']}/users",
            token=await self.root(),
            json={"email": email, "password": PASSWORD, "org_role": "org_admin"},
        )
        token = (await self.login(email))["access_token"]
        project = await self.ok("POST", "/v1/management/projects", token=token, json={"name": "Web"})
        env = await self.ok(
            "POST",
            f"/v1/management/projects/{project['project_id']}/environments",
            token=token,
            json={"name": "production"},
        )
        key = await self.ok(
            "POST",
            f"/v1/management/environments/{env['environment_id']}/sdk-keys",
            token=token,
            json={"name": "server"},
        )
        return Tenant(
            org_id=UUID(org["org_id"]),
            token=token,
            project_id=UUID(project["project_id"]),
            environment_id=UUID(env["environment_id"]),
            sdk_key=key["raw_key"],
            sdk_key_id=UUID(key["sdk_key_id"]),
            admin_email=email,
        )


def gateway_deps(stack: Stack, clock: Clock) -> GatewayDeps:
    """Real collaborators on the stack, with cheap password hashing."""
    return GatewayDeps(
        event_log=stack.store,
        db=stack.pool,
        bus=write_bus(stack.store, stack.pool, clock=clock),
        clock=clock,
        tokens=TokenSettings(secret="integration-test-secret-" * 2),
        waiter=PoolWaiter(stack.pool, [p.NAME for p in PROJECTIONS]),
        refresh_tokens=PostgresRefreshTokens(stack.pool),
        passwords=Passwords.fast(),
        settings=GatewaySettings(write_wait_seconds=20.0, max_body_bytes=64 * 1024),
    )


@asynccontextmanager
async def http_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client running the app on this event loop.

    Not Litestar's AsyncTestClient: it runs the app through a blocking portal on another thread, which
    freezes this loop (and the relay and projector on it) during each request, so read-your-writes
    waits would always time out.
    """
    # Startup hooks called directly: app.lifespan() opens an anyio task group, which pytest-asyncio
    # would exit from another task at fixture teardown.
    for hook in app.on_startup:
        await cast(Any, hook)(app)
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(name="api")
async def api_fixture(stack: Stack) -> AsyncIterator[Api]:
    """The gateway app over the running stack, driven through HTTP."""
    clock = Clock()
    deps = gateway_deps(stack, clock)
    async with http_client(create_app(deps)) as client:
        # Projector and relay fully started (and the system org projected) before the test begins.
        await stack.settle()
        yield Api(client=client, deps=deps, clock=clock)


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the error envelope with that status (and code)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "code"}, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    if code is not None:
        assert body["code"] == code, body
    return body


api = api_fixture  # the same fixture under the name other test modules import (`support.api`)
