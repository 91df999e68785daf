"""Strict at the edge (issue 17): no client error costs a pooled connection, versions are required where
the seed says so, and bodies and query strings are decoded with exact types.

Against the real gateway over the real stack (one per module), as a hostile but authenticated client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.enums import HttpMethod
from litestar.routes import HTTPRoute

from gateway.app import create_app
from gateway.bodies import decode_body
from gateway.errors import InvalidArgument
from tests.integration.gateway.module_stack import module_api_fixture, module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import Api, Tenant, assert_envelope

pytestmark = pytest.mark.integration
VARIANTS = [{"key": "off", "value": False}, {"key": "on", "value": True}]


@pytest.fixture(scope="module")
async def tenant(module_api: Api) -> Tenant:
    t = await module_api.tenant("Strict")
    env = f"/v1/environments/{t.environment_id}"
    await module_api.ok(
        "POST", f"{env}/flags", token=t.token, json={"key": "f1", "value_type": "bool", "variants": VARIANTS}
    )
    await module_api.ok("POST", f"{env}/segments", token=t.token, json={"key": "s1", "kind": "list"})
    await module_api.ok(
        "POST", f"{env}/event-definitions", token=t.token, json={"key": "m1", "value_type": "double"}
    )
    return t


@contextmanager
def no_connection_lost(api: Api, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Asserts that the block returned no connection to the read pool in a bad state and logged no warning."""
    pool = api.deps.db
    pool.pop_stats()
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        yield
    lost = pool.pop_stats().get("returns_bad", 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert (lost, warnings) == (0, [])


def bad_requests(env: str) -> list[tuple[str, str, Any]]:
    """A client error for every environment route: bad query values, bad bodies, missing versions."""
    return [
        ("GET", f"{env}/audit?limit=0", None),
        ("GET", f"{env}/audit?limit=many", None),
        ("GET", f"{env}/audit?until=0.5", None),
        ("GET", f"{env}/flags/f1/audit?limit=0", None),
        ("GET", f"{env}/segments/s1/audit?limit=100000", None),
        ("GET", f"{env}/flags/f1/as-of?at=0", None),
        ("GET", f"{env}/segments/s1/as-of?position=-1", None),
        ("DELETE", f"{env}/flags/f1", None),
        ("DELETE", f"{env}/segments/s1?version=null", None),
        ("DELETE", f"{env}/event-definitions/m1?version=1.0", None),
        ("POST", f"{env}/flags/f1/toggle", {"enabled": 0}),
        ("POST", f"{env}/flags/f1/archive", {}),
        ("PUT", f"{env}/flags/f1", {"version": "0"}),
        ("POST", f"{env}/flags/f1/revert", {"version": 0, "at": 0}),
    ]


async def test_no_client_error_on_any_route_costs_a_connection_or_a_warning(
    module_api: Api, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    env = f"/v1/environments/{tenant.environment_id}"
    spec = create_app(module_api.deps, bootstrap=False).openapi_schema.to_schema()
    generic = [
        (method.upper(), path.replace("{env_id}", str(tenant.environment_id)), {"unknown": 1})
        for path, item in spec["paths"].items()
        for method in item
        if method in ("post", "put") and "{" not in path.replace("{env_id}", "")
    ]
    with no_connection_lost(module_api, caplog):
        for _ in range(5):  # a burst, as an attacker would send it
            for method, path, body in [*bad_requests(env), *generic]:
                response = await module_api.call(method, path, token=tenant.token, json=body)
                assert 400 <= response.status_code < 500, (method, path, response.text)
                assert_envelope(response, response.status_code)


async def test_a_foreign_environment_with_a_bad_query_is_refused_without_a_query(
    module_api: Api, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    other = await module_api.tenant("Other")
    with no_connection_lost(module_api, caplog):
        refused = await module_api.call(
            "GET", f"/v1/environments/{other.environment_id}/audit?limit=0", token=tenant.token
        )
        assert_envelope(refused, 400, "INVALID_ARGUMENT")
        hidden = await module_api.call(
            "GET", f"/v1/environments/{other.environment_id}/audit", token=tenant.token
        )
        assert_envelope(hidden, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", "flags/f1", None),
        ("DELETE", "segments/s1", None),
        ("DELETE", "segments/s1?version=null", None),
        ("DELETE", "event-definitions/m1", None),
        ("POST", "flags/f1/toggle", {"enabled": True}),
        ("POST", "flags/f1/archive", {}),
        ("POST", "flags/f1/unarchive", {}),
        ("POST", "flags/f1/variants", {"key": "v3", "value": True}),
        ("POST", "segments/s1/members", {"add": ["u1"]}),
        ("POST", "flags/f1/revert", {"position": 1}),
    ],
)
async def test_every_update_delete_archive_and_toggle_requires_a_version(
    module_api: Api, tenant: Tenant, method: str, path: str, body: Any
) -> None:
    env = f"/v1/environments/{tenant.environment_id}"
    response = await module_api.call(method, f"{env}/{path}", token=tenant.token, json=body)
    assert "version" in assert_envelope(response, 400, "INVALID_ARGUMENT")["error"]
    collection, key = path.split("?")[0].split("/")[:2]
    still = await module_api.call("GET", f"{env}/{collection}/{key}", token=tenant.token)
    assert still.status_code == 200, still.text  # nothing was deleted


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", "flags/f1?version=99", None),
        ("DELETE", "segments/s1?version=99", None),
        ("DELETE", "event-definitions/m1?version=99", None),
        ("POST", "flags/f1/toggle", {"enabled": True, "version": 99}),
        ("POST", "flags/f1/archive", {"version": 99}),
        ("POST", "segments/s1/members", {"add": ["u1"], "version": 99}),
    ],
)
async def test_a_stale_version_is_aborted(
    module_api: Api, tenant: Tenant, method: str, path: str, body: Any
) -> None:
    env = f"/v1/environments/{tenant.environment_id}"
    response = await module_api.call(method, f"{env}/{path}", token=tenant.token, json=body)
    assert_envelope(response, 409, "ABORTED")


NOT_BOOLEANS = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.booleans(), max_size=2),
)
NOT_TIMES = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.sampled_from(["2026-01-01T00:00:00", "tomorrow", ""]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(value=NOT_BOOLEANS)
def test_only_true_and_false_are_booleans(handlers: dict[str, Any], value: Any) -> None:
    """Property, in-process: the strict body decoder refuses every non-boolean JSON value for a boolean."""
    handler = handlers["toggle"]
    with pytest.raises(InvalidArgument):
        decode_body(handler, json.dumps({"version": 1, "enabled": value}).encode())


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(value=NOT_TIMES)
def test_only_rfc3339_strings_with_an_offset_are_times(handlers: dict[str, Any], value: Any) -> None:
    handler = handlers["revert"]
    with pytest.raises(InvalidArgument):
        decode_body(handler, json.dumps({"version": 1, "at": value}).encode())


@pytest.fixture(scope="module")
def handlers(module_api: Api) -> dict[str, Any]:
    """Route handlers by last path segment, for their strict decoders (nothing is called)."""
    app = create_app(module_api.deps, bootstrap=False)
    prefix = "/v1/environments/{env_id}/flags/{key}/"
    return {
        route.path_format.removeprefix(prefix): route.route_handler_map[HttpMethod.POST][0]
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path_format in (f"{prefix}toggle", f"{prefix}revert")
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "flags/f1/toggle", {"version": 1, "enabled": 0}),
        ("POST", "flags/f1/toggle", {"version": 1, "enabled": 1}),
        ("POST", "flags/f1/toggle", {"version": 1, "enabled": "true"}),
        ("POST", "flags/f1/toggle", {"version": True}),
        ("PUT", "flags/f1", {"version": 1, "enabled": None, "name": 5}),
        ("POST", "flags/f1/revert", {"version": 1, "at": 0}),
        ("POST", "flags/f1/revert", {"version": 1, "at": "2026-01-01T00:00:00"}),
        ("POST", "flags/f1/toggle", {"version": 1, "surprise": True}),
        ("GET", "audit?until=0.5", None),
        ("GET", "audit?since=1e3", None),
        ("GET", "audit?limit=1e1", None),
        ("GET", "audit?before_position=%C2%B2", None),
        ("GET", "flags/f1/as-of?at=0", None),
        ("GET", "flags/f1/as-of?position=null", None),
    ],
)
async def test_inexact_types_are_refused(
    module_api: Api, tenant: Tenant, method: str, path: str, body: Any
) -> None:
    env = f"/v1/environments/{tenant.environment_id}"
    response = await module_api.call(method, f"{env}/{path}", token=tenant.token, json=body)
    assert_envelope(response, 400, "INVALID_ARGUMENT")


async def test_exact_types_are_accepted(module_api: Api, tenant: Tenant) -> None:
    env = f"/v1/environments/{tenant.environment_id}"
    flag = await module_api.ok("GET", f"{env}/flags/f1", token=tenant.token)
    toggled = await module_api.ok(
        "POST",
        f"{env}/flags/f1/toggle",
        token=tenant.token,
        json={"version": flag["version"], "enabled": True},
    )
    assert toggled["enabled"] is True
    audit = await module_api.ok(
        "GET", f"{env}/audit?until=2099-01-01T00:00:00%2B02:00&limit=1", token=tenant.token
    )
    assert len(audit["entries"]) == 1
    as_of = await module_api.ok("GET", f"{env}/flags/f1/as-of?at=2099-01-01T00:00:00Z", token=tenant.token)
    assert as_of["enabled"] is True
