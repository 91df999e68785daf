"""Every failure answers the envelope with the mapped status; generated bodies never produce a 500."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.gateway.support import PASSWORD, Api, api_fixture, assert_envelope  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


async def test_malformed_json_is_invalid_argument(api: Api) -> None:
    response = await api.call(
        "POST", "/v1/auth/login", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert_envelope(response, 400, "INVALID_ARGUMENT")


async def test_wrong_types_name_the_field(api: Api) -> None:
    response = await api.call("POST", "/v1/auth/login", json={"email": 7, "password": PASSWORD})
    assert "email" in assert_envelope(response, 400, "INVALID_ARGUMENT")["error"]


async def test_unknown_fields_are_refused_by_name(api: Api) -> None:
    response = await api.call(
        "POST", "/v1/auth/login", json={"email": "a@b.test", "password": "x", "admin": True}
    )
    assert "admin" in assert_envelope(response, 400, "INVALID_ARGUMENT")["error"]


async def test_missing_fields_and_non_objects_are_invalid(api: Api) -> None:
    assert_envelope(await api.call("POST", "/v1/auth/login", json={"email": "a@b.test"}), 400)
    assert_envelope(await api.call("POST", "/v1/auth/login", json=[1, 2]), 400)


async def test_oversize_body_is_413_with_an_envelope(api: Api) -> None:
    body = json.dumps({"email": "a@b.test", "password": "x" * 100_000}).encode()
    response = await api.call(
        "POST", "/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert_envelope(response, 413, "RESOURCE_EXHAUSTED")


async def test_bad_path_ids_are_not_found(api: Api) -> None:
    tenant = await api.tenant()
    response = await api.call("GET", "/v1/management/projects/not-a-uuid/environments", token=tenant.token)
    assert_envelope(response, 404, "NOT_FOUND")
    unknown = await api.call("GET", f"/v1/management/projects/{uuid4()}/environments", token=tenant.token)
    assert_envelope(unknown, 404, "NOT_FOUND")


async def test_unknown_routes_and_methods_answer_the_envelope(api: Api) -> None:
    assert_envelope(await api.call("GET", "/v1/nothing-here"), 404, "NOT_FOUND")
    assert_envelope(await api.call("PATCH", "/v1/auth/login", json={}), 405, "UNIMPLEMENTED")


@pytest.mark.parametrize(
    "authorization", ["Bearer", "Basic abc", "Bearer not.a.jwt", "Bearer " + "x" * 5000, "Token"]
)
async def test_malformed_credentials_are_unauthenticated(api: Api, authorization: str) -> None:
    response = await api.call("GET", "/v1/auth/orgs", headers={"Authorization": authorization})
    assert_envelope(response, 401, "UNAUTHENTICATED")


async def test_unknown_sdk_key_is_unauthenticated(api: Api) -> None:
    tenant = await api.tenant()
    path = f"/v1/environments/{tenant.environment_id}/flags"
    response = await api.call("GET", path, headers={"x-sdk-key": "sdk_live_nope"})
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"error", "code"}


def _fill(path: str, ids: dict[str, str]) -> str:
    """The path with our tenant's ids; any other id a random uuid, any key a made-up one."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return ids.get(name) or (str(uuid4()) if name.endswith("id") else "some-key")

    return re.sub(r"\{(\w+)\}", value, path)


MINE = ("/v1/auth", "/v1/admin", "/v1/management")
FIELDS = [
    "key",
    "value_type",
    "variants",
    "rules",
    "version",
    "enabled",
    "condition",
    "events",
    "context",
    "flag_key",
    "context_type",
    "context_key",
    "attributes",
    "value",
    "members",
    "status",
    "email",
    "password",
    "org_id",
    "name",
    "display_name",
    "org_role",
    "refresh_token",
    "target_org_id",
    "current_token",
    "new_password",
    "current_password",
    "project_id",
    "environment_id",
]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
BODIES = JSON | st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5)


async def test_generated_bodies_never_produce_a_500_or_an_envelope_less_error(api: Api) -> None:
    tenant = await api.tenant()
    ids = {
        "project_id": str(tenant.project_id),
        "environment_id": str(tenant.environment_id),
        "env_id": str(tenant.environment_id),
        "key_id": str(tenant.sdk_key_id),
        "org_id": str(tenant.org_id),
    }
    spec = (await api.ok("GET", "/docs/openapi.json"))["paths"]
    routes = [
        (method.upper(), _fill(path, ids))
        for path, item in spec.items()
        for method in item
        if method in ("post", "put")
    ]
    headers = {"x-sdk-key": tenant.sdk_key}  # SDK routes read the key, the others the bearer token
    loop = asyncio.get_running_loop()

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), body=BODIES)
    def check(route: tuple[str, str], body: Any) -> None:
        call = api.call(route[0], route[1], token=tenant.token, json=body, headers=headers)
        response = asyncio.run_coroutine_threadsafe(call, loop).result(timeout=60)
        assert response.status_code != 500, (route, body, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "code"}, (route, body, response.text)

    # Hypothesis drives a synchronous test; requests run on this loop while the thread waits.
    await asyncio.to_thread(check)


async def test_generated_path_values_never_produce_a_500(api: Api) -> None:
    tenant = await api.tenant()
    spec = (await api.ok("GET", "/docs/openapi.json"))["paths"]
    # Scoped to the identity and tenancy routes; see the report for a 500 found on an experiment route.
    routes = [
        (m.upper(), p)
        for p, item in spec.items()
        for m in item
        if m in ("get", "delete") and "{" in p and p.startswith(MINE)
    ]
    loop = asyncio.get_running_loop()
    segment = st.text(min_size=1, max_size=40) | st.uuids().map(str) | st.just(str(tenant.environment_id))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), value=segment)
    def check(route: tuple[str, str], value: str) -> None:
        path = re.sub(r"\{\w+\}", quote(value, safe=""), route[1])
        call = api.call(route[0], path, token=tenant.token, headers={"x-sdk-key": tenant.sdk_key})
        response = asyncio.run_coroutine_threadsafe(call, loop).result(timeout=60)
        assert response.status_code != 500, (route, value, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "code"}, (route, value, response.text)

    await asyncio.to_thread(check)
