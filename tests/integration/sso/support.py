"""The gateway over a module's stack with SSO settings for a local IdP, and login-flow helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest

from gateway.app import create_app
from gateway.sso.settings import SsoSettings
from tests.integration.gateway.support import Api, Clock, Tenant, gateway_deps, http_client
from tests.integration.sso.oidc_idp import CLIENT_ID, CLIENT_SECRET, OidcIdp, serve_idp
from tests.stack import Stack

REDIRECT_URI = "https://app.stitchd.test/sso/callback"
# The IdP listens on 127.0.0.1 over plain HTTP: both policies relaxed, as docs/sso.md says for tests.
TEST_SSO = SsoSettings(allow_private_idp=True, require_https=False, secret_key=b"k" * 32)


@pytest.fixture(name="idp", scope="module")
def idp_fixture() -> Iterator[OidcIdp]:
    """A real OpenID Provider (authlib) on a free port for the module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test IdP speaks plain HTTP
        with serve_idp([REDIRECT_URI]) as idp:
            yield idp


@pytest.fixture(name="sso_api", scope="module")
async def sso_api_fixture(module_stack: Stack) -> AsyncIterator[Api]:
    clock = Clock()
    deps = dataclasses.replace(gateway_deps(module_stack, clock), sso=TEST_SSO)
    async with http_client(create_app(deps)) as client:
        await module_stack.settle()
        yield Api(client=client, deps=deps, clock=clock)


def oidc_body(idp: OidcIdp, **overrides: Any) -> dict[str, Any]:
    """A provider body for the IdP (with its client secret)."""
    body: dict[str, Any] = {
        "display_name": "Example IdP",
        "oidc": {"issuer_url": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                 "scopes": ["openid", "email", "profile"]},
        "email_domains": ["example.com"],
    }  # fmt: skip
    body.update(overrides)
    return body


async def add_provider(api: Api, tenant: Tenant, idp: OidcIdp, **overrides: Any) -> dict[str, Any]:
    created = await api.ok(
        "POST", "/v1/management/auth-providers", token=tenant.token, json=oidc_body(idp, **overrides)
    )
    provider: dict[str, Any] = created["provider"]
    return provider


async def authorize(api: Api, provider_id: str | UUID) -> tuple[str, str]:
    """(the IdP authorization URL, its state) from OidcAuthorize."""
    body = {"provider_id": str(provider_id), "redirect_uri": REDIRECT_URI}
    answer = await api.ok("POST", "/v1/auth/oidc/authorize", json=body)
    return answer["redirect_url"], answer["state"]


async def at_idp(url: str) -> tuple[str, str]:
    """The browser at the IdP (its user is logged in there): the (code, state) it redirects back with."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        response = await browser.get(url)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    return query["code"][0], query["state"][0]


async def callback(api: Api, provider_id: str | UUID, code: str, state: str) -> httpx.Response:
    body = {"provider_id": str(provider_id), "code": code, "state": state, "redirect_uri": REDIRECT_URI}
    return await api.call("POST", "/v1/auth/oidc/callback", json=body)


async def sso_login(api: Api, provider_id: str | UUID) -> httpx.Response:
    """The whole flow: authorize, the IdP, callback."""
    url, _ = await authorize(api, provider_id)
    code, state = await at_idp(url)
    return await callback(api, provider_id, code, state)
