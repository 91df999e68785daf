"""Issue 13: after a full OIDC login the provider's client secret is in no response, no log line (every
logger of the gateway process, DEBUG and up) and no stored event, nor on JetStream; the audit redacts."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from gateway.app import create_app
from tests.adversarial.test_auth_personal_data import _published
from tests.integration.gateway.support import Api, Clock, gateway_deps, http_client
from tests.integration.sso.oidc_idp import CLIENT_SECRET, OidcIdp, serve_idp
from tests.integration.sso.support import REDIRECT_URI, TEST_SSO, add_provider, sso_login
from tests.stack import Stack

pytestmark = pytest.mark.integration
SECRET = CLIENT_SECRET.encode()


@pytest.fixture(name="idp")
def idp_fixture() -> Iterator[OidcIdp]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
        with serve_idp([REDIRECT_URI]) as idp:
            yield idp


class Recorder(Api):
    """Every response body the test client saw."""

    seen: list[bytes] = []

    async def call(self, *args: object, **kwargs: object) -> httpx.Response:
        response = await super().call(*args, **kwargs)  # type: ignore[arg-type]
        self.seen.append(response.content + str(response.headers).encode())
        return response


@pytest.fixture(name="sso_api")
async def sso_api_fixture(stack: Stack) -> AsyncIterator[Recorder]:
    clock = Clock()
    deps = dataclasses.replace(gateway_deps(stack, clock), sso=TEST_SSO)
    async with http_client(create_app(deps)) as client:
        await stack.settle()
        api = Recorder(client=client, deps=deps, clock=clock)
        api.seen = []
        yield api


async def test_the_client_secret_leaks_nowhere(
    sso_api: Recorder, idp: OidcIdp, stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = await sso_api.tenant("Leak")
    provider = await add_provider(sso_api, tenant, idp)
    assert provider["oidc"]["client_secret"] == ""
    assert provider["has_client_secret"]
    response = await sso_login(sso_api, provider["id"])  # the secret is used at the token endpoint
    assert response.status_code == 200, response.text
    path = f"/v1/management/auth-providers/{provider['id']}"
    await sso_api.ok(
        "PUT", path, token=tenant.token, json={"version": provider["version"], "display_name": "X"}
    )
    for read in (path, "/v1/management/auth-providers", f"{path}/audit"):
        await sso_api.ok("GET", read, token=tenant.token)
    audit = await sso_api.ok("GET", f"{path}/audit", token=tenant.token)
    assert '"client_secret": "[redacted]"' in json.dumps(audit), audit  # shown as set, never its value
    assert all(SECRET not in seen for seen in sso_api.seen)
    assert all(
        CLIENT_SECRET not in r.getMessage() and CLIENT_SECRET not in str(r.args) for r in caplog.records
    )
    async with stack.pool.connection() as conn:
        cur = await conn.execute("SELECT data::text || metadata::text FROM events")
        stored = [row[0].encode() for row in await cur.fetchall()]
        cur = await conn.execute("SELECT state::text FROM rm_auth_providers")
        stored += [row[0].encode() for row in await cur.fetchall()]
    assert any(b"sealed:v1:" in s for s in stored)  # it is there, sealed
    assert all(SECRET not in s for s in stored)
    assert all(SECRET not in body for body in await _published(stack))
