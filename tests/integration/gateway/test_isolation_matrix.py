"""Tenant isolation over the app's own route table: org A's credentials against org B's objects.

Each route answers what isolation_table.MATRIX says (404, or 401/403 per the auth matrix) with the error
envelope, never one of B's facts that the request itself did not name, and B's objects stay untouched.
Also: missing, expired and wrong-kind credentials answer 401 everywhere; tenant admins get 403 on admin.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlencode
from uuid import UUID, uuid4

import httpx
import pytest

from tests.integration.gateway.isolation_table import (
    DOCS,
    MATRIX,
    METHODS,
    OPEN,
    PARAM,
    PLAIN,
    World,
    build_world,
    check_body,
    fill,
)
from tests.integration.gateway.module_stack import module_api_fixture, module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import PASSWORD, Api, assert_envelope

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def worlds(module_api: Api) -> tuple[World, World]:
    """Organisations A (the attacker) and B (the target)."""
    return await build_world(module_api, "Alpha"), await build_world(module_api, "Beta")


async def spec_routes(api: Api) -> dict[str, frozenset[str]]:
    """ "METHOD path" of every operation in the served spec, with the security schemes it accepts."""
    spec = (await api.ok("GET", f"{DOCS}/openapi.json"))["paths"]
    return {
        f"{m.upper()} {p}": frozenset(name for req in op.get("security", []) for name in req)
        for p, item in spec.items()
        for m, op in item.items()
        if m in METHODS
    }


def assert_no_leak(response: httpx.Response, secrets: list[str], where: str) -> None:
    """None of the target's facts in the answer, except those the request itself named."""
    sent = str(response.request.url) + response.request.content.decode(errors="replace")
    for secret in secrets:
        if secret not in sent:
            assert secret not in response.text, f"{where} leaked {secret}: {response.text[:300]}"


async def attack(api: Api, route: str, a: World, b: World, *, use_sdk: bool, mixed: bool = False) -> int:
    """Send `route` as A against B's objects (in A's own environment when `mixed`); the status."""
    method, path = route.split(" ", 1)
    entry = MATRIX[route]
    body = entry.body(b) if entry.body is not None else None
    url = fill(path, a if mixed else b, b)
    headers = {"x-sdk-key": a.tenant.sdk_key} if use_sdk else {}
    token = None if use_sdk else a.tenant.token
    if entry.query:
        url += "?" + urlencode(entry.query)
    response = await api.call(method, url, token=token, json=body, headers=headers)
    where = f"{route} as A ({'SDK key' if use_sdk else 'JWT'}{', own env' if mixed else ''})"
    assert_no_leak(response, b.secrets(), where)
    assert response.status_code < 500, (where, response.text)
    if response.status_code >= 400:
        assert_envelope(response, response.status_code)
    return response.status_code


def attack_order(route: str) -> tuple[bool, str]:
    """Every route, the caller's own password change last (were it to succeed, A's token would die)."""
    return route == "PUT /v1/auth/password", route


def object_routes() -> list[str]:
    """Routes naming an object below the environment/project (flag, segment, experiment, key, user ...)."""
    scopes = {"env_id", "environment_id", "project_id", "org_id"}
    return [r for r in sorted(MATRIX) if {m.group(1) for m in PARAM.finditer(r)} - scopes]


async def assert_untouched(api: Api, b: World) -> None:
    """B's objects kept their versions, B's SDK key and B's admin still work."""
    t = b.tenant
    env = f"/v1/environments/{t.environment_id}"
    for kind, path in (("flag", f"/flags/{b.flag}"), ("segment", f"/segments/{b.segment}"),
                       ("metric", f"/event-definitions/{b.metric}"),
                       ("experiment", f"/experiments/{b.experiment_id}")):  # fmt: skip
        assert (await api.ok("GET", env + path, token=t.token))["version"] == b.versions[kind], kind
    evaluated = await api.call(
        "POST",
        f"{env}/evaluate",
        json={"flag_key": b.flag, "context_key": "u"},
        headers={"x-sdk-key": t.sdk_key},
    )
    assert evaluated.status_code == 200, evaluated.text
    assert (await api.login(t.admin_email))["user_id"] == b.user_id


async def test_every_route_has_a_matrix_entry_matching_its_security(module_api: Api) -> None:
    routes = await spec_routes(module_api)
    assert {r for r, schemes in routes.items() if not schemes} == OPEN
    missing = sorted(set(routes) - OPEN - set(MATRIX))
    assert not missing, f"routes without an isolation matrix entry: {missing}"
    assert not set(MATRIX) - set(routes), "stale matrix entries"
    wrong = [r for r, entry in MATRIX.items() if entry.security != routes[r]]
    assert not wrong, f"matrix security differs from the spec: {wrong}"


PROBES = "/_"  # /_liveness, /_readiness, /_startup: for the platform, not in the spec (gateway/probes.py)


async def test_the_spec_lists_every_served_route(module_api: Api) -> None:
    from gateway.app import create_app

    app = create_app(module_api.deps, bootstrap=False)
    served = {
        f"{method} {PARAM.sub(PLAIN, route.path)}"
        for route in app.routes
        if not route.path.startswith((DOCS, PROBES))
        for method in route.methods
        if method not in ("HEAD", "OPTIONS")
    }
    assert served == set(await spec_routes(module_api))


async def test_org_a_jwt_gets_the_matrix_status_on_org_b_objects(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    wrong = {}
    for route in sorted(MATRIX, key=attack_order):
        status = await attack(module_api, route, a, b, use_sdk=False)
        if status not in MATRIX[route].jwt:
            wrong[route] = status
    assert not wrong, wrong
    await assert_untouched(module_api, b)


async def test_org_a_sdk_key_gets_the_matrix_status_on_org_b_objects(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    wrong = {}
    for route in sorted(MATRIX):
        status = await attack(module_api, route, a, b, use_sdk=True)
        if status not in MATRIX[route].sdk:
            wrong[route] = status
    assert not wrong, wrong
    await assert_untouched(module_api, b)


async def test_org_b_objects_named_from_org_a_environment_are_not_found(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    routes = object_routes()
    assert len(routes) > 20  # flags, segments, event definitions, experiments, keys, users, jobs
    wrong = {}
    for route in routes:
        status = await attack(module_api, route, a, b, use_sdk=False, mixed=True)
        if status not in MATRIX[route].mixed:
            wrong[route] = status
    assert not wrong, wrong
    await assert_untouched(module_api, b)


async def test_org_a_sdk_key_evaluates_nothing_of_org_b(module_api: Api, worlds: tuple[World, World]) -> None:
    a, b = worlds
    env = f"/v1/environments/{a.tenant.environment_id}"
    headers = {"x-sdk-key": a.tenant.sdk_key}
    for path, body in (("/evaluate", {"flag_key": b.flag, "context_key": "u1"}),
                       ("/evaluate-all", {"context_key": "u1"}),
                       ("/segments/list-check", check_body(b))):  # fmt: skip
        response = await module_api.call("POST", env + path, json=body, headers=headers)
        assert response.status_code < 500, response.text
        assert_no_leak(response, b.secrets(), path)
        if path == "/segments/list-check" and response.status_code == 200:
            assert response.json()["is_member"] is False


async def test_missing_credentials_are_unauthenticated_everywhere(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    _, b = worlds
    for route in sorted(MATRIX):
        method, path = route.split(" ", 1)
        body = MATRIX[route].body
        response = await module_api.call(method, fill(path, b, b), json=body(b) if body else None)
        assert_envelope(response, 401, "UNAUTHENTICATED")


async def test_credentials_of_the_wrong_kind_are_unauthenticated(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    for route, entry in sorted(MATRIX.items()):
        method, path = route.split(" ", 1)
        body = entry.body(a) if entry.body else None
        if "bearer_jwt" not in entry.security:
            response = await module_api.call(method, fill(path, a, a), token=a.tenant.token, json=body)
            assert_envelope(response, 401, "UNAUTHENTICATED")
        if "sdk_key" not in entry.security:
            headers = {"x-sdk-key": a.tenant.sdk_key}
            response = await module_api.call(method, fill(path, a, a), json=body, headers=headers)
            assert_envelope(response, 401, "UNAUTHENTICATED")


async def test_tenant_admins_are_refused_admin_routes(module_api: Api, worlds: tuple[World, World]) -> None:
    a, _ = worlds
    for route in sorted(r for r in MATRIX if r.split(" ", 1)[1].startswith("/v1/admin/")):
        method, path = route.split(" ", 1)
        body = MATRIX[route].body
        response = await module_api.call(
            method, fill(path, a, a), token=a.tenant.token, json=body(a) if body else None
        )
        assert_envelope(response, 403, "PERMISSION_DENIED")


async def test_expired_tokens_are_unauthenticated_everywhere(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    module_api.clock.offset = timedelta(days=2)
    try:
        for route, entry in sorted(MATRIX.items()):
            method, path = route.split(" ", 1)
            body = entry.body(a) if entry.body else None
            response = await module_api.call(method, fill(path, a, a), token=a.tenant.token, json=body)
            assert_envelope(response, 401, "UNAUTHENTICATED")
    finally:
        module_api.clock.offset = timedelta()


async def test_an_sdk_key_reads_only_its_own_environment(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    path = f"/v1/management/projects/{a.tenant.project_id}/environments"
    staging = await module_api.ok(
        "POST", path, token=a.tenant.token, json={"name": f"staging-{uuid4().hex[:6]}"}
    )
    sibling = replace(a, tenant=replace(a.tenant, environment_id=UUID(staging["environment_id"])))
    headers = {"x-sdk-key": a.tenant.sdk_key}
    sdk_routes = [r for r, entry in sorted(MATRIX.items()) if "sdk_key" in entry.security]
    assert len(sdk_routes) >= 7  # evaluate, evaluate-all, list checks, events, exposures
    for route in sdk_routes:
        method, template = route.split(" ", 1)
        body = MATRIX[route].body
        response = await module_api.call(
            method, fill(template, sibling, a), json=body(a) if body else None, headers=headers
        )
        assert_envelope(response, 404, "NOT_FOUND")


async def test_bodies_naming_org_b_objects_on_org_a_paths_reach_nothing(
    module_api: Api, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    mgmt = "/v1/management"
    before = await module_api.ok(
        "GET", f"{mgmt}/environments/{b.tenant.environment_id}/sdk-keys", token=b.tenant.token
    )
    envs = await module_api.ok(
        "GET", f"{mgmt}/projects/{b.tenant.project_id}/environments", token=b.tenant.token
    )
    for path, body in (
        (
            f"{mgmt}/projects/{a.tenant.project_id}/environments",
            {"name": "x", "project_id": str(b.tenant.project_id)},
        ),
        (
            f"{mgmt}/environments/{a.tenant.environment_id}/sdk-keys",
            {"environment_id": str(b.tenant.environment_id)},
        ),
        (
            "/v1/auth/login",
            {"email": a.tenant.admin_email, "password": PASSWORD, "org_id": str(b.tenant.org_id)},
        ),
    ):
        response = await module_api.call("POST", path, token=a.tenant.token, json=body)
        assert response.status_code < 500, (path, response.text)
        if response.status_code >= 400:
            assert_envelope(response, response.status_code)
        else:  # the path wins: made in A's own project/environment, nothing of B's in it
            assert all(secret not in response.text for secret in b.secrets()), (path, response.text)
    after = await module_api.ok(
        "GET", f"{mgmt}/environments/{b.tenant.environment_id}/sdk-keys", token=b.tenant.token
    )
    assert after == before
    assert (
        await module_api.ok(
            "GET", f"{mgmt}/projects/{b.tenant.project_id}/environments", token=b.tenant.token
        )
        == envs
    )
