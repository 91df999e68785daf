"""Tenant isolation matrix: for every route in the spec, org A's token and SDK key against org B's objects.

Never a success and never one of B's ids or emails in the answer; GET/DELETE on B's objects answer 404
(403 on system-admin routes, 401 where an SDK key is not a credential at all).
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.integration.gateway.support import PASSWORD, Api, Tenant, api_fixture, assert_envelope  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration
PARAM = re.compile(r"\{(\w+)\}")
METHODS = ("get", "post", "put", "patch", "delete")
OPEN_ROUTES = {"/v1/auth/login", "/v1/auth/refresh", "/v1/admin/seed-user", "/healthz"}
# SSO login (issue 13): open by design; tests/integration/sso covers them against a real IdP.
OPEN_ROUTES |= {"/v1/auth/providers", "/v1/auth/oidc/authorize", "/v1/auth/oidc/callback"}


# SAML login (issue 13 part 3): open by design; tests/integration/saml covers them against a real IdP.
OPEN_ROUTES |= {
    "/v1/auth/saml/sso",
    "/v1/auth/saml/acs",
    "/v1/auth/saml/{provider_id}/acs",
    "/v1/auth/saml/{provider_id}/metadata",
}


def _ids(b: Tenant, b_user: str) -> dict[str, str]:
    return {
        "env_id": str(b.environment_id),
        "environment_id": str(b.environment_id),
        "project_id": str(b.project_id),
        "key_id": str(b.sdk_key_id),
        "user_id": b_user,
        "org_id": str(b.org_id),
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return ids.get(name) or (str(uuid4()) if name.endswith("id") else "some-key")

    return PARAM.sub(value, path)


def _secrets_of(b: Tenant, b_user: str) -> list[str]:
    return [str(b.org_id), str(b.project_id), str(b.environment_id), str(b.sdk_key_id), b_user, b.admin_email]


def _assert_no_leak(response: httpx.Response, secrets: list[str], where: str) -> None:
    """None of B's facts in the answer, except an id the caller itself put in the URL (echoed in 404s)."""
    for secret in secrets:
        if secret in str(response.request.url):
            continue
        assert secret not in response.text, f"{where} leaked {secret}: {response.text[:300]}"


async def _routes(api: Api) -> list[tuple[str, str, set[str]]]:
    """(method, path, accepted security schemes) of every authenticated route in the served spec."""
    spec = (await api.ok("GET", "/docs/openapi.json"))["paths"]
    return [
        (m, p, {name for req in op["security"] for name in req})
        for p, item in spec.items()
        for m, op in item.items()
        if m in METHODS and p not in OPEN_ROUTES
    ]


async def test_org_a_token_never_reaches_org_b(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    b_user = (await api.login(b.admin_email))["user_id"]
    ids, secrets = _ids(b, b_user), _secrets_of(b, b_user)
    for method, path, schemes in await _routes(api):
        body: Any = {} if method in ("post", "put", "patch") else None
        query = "?version=0" if method == "delete" else ""  # well-formed, so B's object is looked up
        response = await api.call(method.upper(), _fill(path, ids) + query, token=a.token, json=body)
        where = f"{method.upper()} {path} with org A's token"
        _assert_no_leak(response, secrets, where)
        if not PARAM.search(path):
            continue
        assert response.status_code >= 400, where
        assert set(response.json()) == {"error", "code"}, where
        expected = {403} if path.startswith("/v1/admin") else {404}
        if "bearer_jwt" not in schemes:
            expected = {401}  # an SDK-key route: a JWT is no credential there
        if body is not None:
            expected |= {400}  # a body may be refused before the object is looked up
        assert response.status_code in expected, (where, response.text)


async def test_org_a_sdk_key_never_reaches_org_b(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    b_user = (await api.login(b.admin_email))["user_id"]
    ids, secrets = _ids(b, b_user), _secrets_of(b, b_user)
    for method, path, schemes in await _routes(api):
        if path.startswith("/ofrep/"):
            continue  # the key alone names the environment (A's): tests/integration/ofrep, isolation matrix
        body: Any = {} if method in ("post", "put", "patch") else None
        response = await api.call(
            method.upper(), _fill(path, ids), json=body, headers={"x-sdk-key": a.sdk_key}
        )
        where = f"{method.upper()} {path} with org A's SDK key"
        _assert_no_leak(response, secrets, where)
        expected = {404} if "sdk_key" in schemes and PARAM.search(path) else {401}
        if body is not None:
            expected |= {400}
        assert response.status_code in expected, (where, response.text)
        assert set(response.json()) == {"error", "code"}, where


async def test_bodies_naming_another_org_are_not_found(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    for path, body in (
        ("/v1/auth/switch-org", {"target_org_id": str(b.org_id)}),
        ("/v1/management/projects", {"name": "Sneaky", "org_id": str(b.org_id)}),
        ("/v1/management/users", {"email": "s@x.test", "password": PASSWORD, "org_id": str(b.org_id)}),
    ):
        assert_envelope(await api.call("POST", path, token=a.token, json=body), 404, "NOT_FOUND")


async def test_listings_show_only_the_callers_tenant(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    projects = await api.ok("GET", "/v1/management/projects", token=a.token)
    assert [p["project_id"] for p in projects["projects"]] == [str(a.project_id)]
    users = await api.ok("GET", "/v1/management/users", token=a.token)
    assert b.admin_email not in str(users)
    assert a.admin_email in str(users)
