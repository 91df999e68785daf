"""Issue 13: the issuer URL is tenant-controlled, so by default the gateway neither speaks plain HTTP to
an IdP nor connects to a loopback/private address (STITCHD_SSO_REQUIRE_HTTPS, _ALLOW_PRIVATE_IDP)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.app import create_app
from gateway.sso.settings import SsoSettings
from tests.integration.gateway.support import Api, Clock, assert_envelope, gateway_deps, http_client
from tests.integration.sso.oidc_idp import OidcIdp, serve_idp
from tests.integration.sso.support import REDIRECT_URI, add_provider
from tests.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(name="idp")
def idp_fixture() -> Iterator[OidcIdp]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
        with serve_idp([REDIRECT_URI]) as idp:
            yield idp


async def _api(stack: Stack, sso: SsoSettings) -> AsyncIterator[Api]:
    clock = Clock()
    deps = dataclasses.replace(gateway_deps(stack, clock), sso=sso)
    async with http_client(create_app(deps)) as client:
        await stack.settle()
        yield Api(client=client, deps=deps, clock=clock)


@pytest.fixture(name="strict_api")
async def strict_api_fixture(stack: Stack) -> AsyncIterator[Api]:
    """Private addresses refused (the default), plain HTTP allowed so the address rule is what answers."""
    async for api in _api(stack, SsoSettings(require_https=False)):
        yield api


async def _pending_states(api: Api) -> int:
    async with api.deps.db.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM sso_login_states")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_an_idp_on_a_private_address_is_never_contacted(strict_api: Api, idp: OidcIdp) -> None:
    tenant = await strict_api.tenant("Ssrf")
    provider = await add_provider(strict_api, tenant, idp)
    body = {"provider_id": provider["id"], "redirect_uri": REDIRECT_URI}
    answer = await strict_api.call("POST", "/v1/auth/oidc/authorize", json=body)
    assert_envelope(answer, 502, "UNAVAILABLE")
    assert "not public" in answer.json()["error"]
    assert idp.jwks_fetches == 0
    assert not idp.codes
    assert await _pending_states(strict_api) == 0


async def test_plain_http_issuers_are_refused_by_default(api: Api, idp: OidcIdp) -> None:
    tenant = await api.tenant("Http")
    provider = await add_provider(api, tenant, idp)
    body = {"provider_id": provider["id"], "redirect_uri": REDIRECT_URI}
    answer = await api.call("POST", "/v1/auth/oidc/authorize", json=body)
    assert_envelope(answer, 502, "UNAVAILABLE")
    assert "https" in answer.json()["error"]
