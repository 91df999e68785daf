"""Property: no input produces a 500 or an error without the envelope, on any route of the app's own spec.

Bodies are drawn from each route's request schema (app.openapi_schema) and mutated (wrong types, unknown
and missing fields, huge strings) or replaced by arbitrary JSON, raw non-JSON bytes, deep nesting and
oversize payloads; path parameters and query parameters get arbitrary values too. Requests carry valid
credentials for the route, so they reach validation and the domain rather than stopping at auth.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from tests.integration.gateway.json_shapes import body_strategy, raw_payloads
from tests.integration.gateway.module_stack import module_api_fixture, module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import PASSWORD, Api, Tenant, assert_envelope

pytestmark = pytest.mark.integration
PARAM = re.compile(r"\{(\w+)\}")
METHODS = ("get", "post", "put", "patch", "delete")
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@dataclass
class Route:
    method: str
    path: str  # the spec's template
    security: frozenset[str]
    body_schema: dict[str, Any] | None
    query: list[str]


@dataclass
class Fuzz:
    """One tenant with one of everything, the spec, and how to call any route with the right credentials."""

    api: Api
    tenant: Tenant
    root: str
    bystander: str  # token of a second member: the own-password route may revoke it, nobody else's
    values: dict[str, str]
    routes: list[Route]
    components: dict[str, Any]
    hints: dict[str, list[Any]]

    def url(self, route: Route) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "key":
                return self.values[route.path[: match.start()].rstrip("/").rsplit("/", 1)[-1]]
            return self.values[name]

        return PARAM.sub(value, route.path)

    def headers(self, route: Route) -> dict[str, str]:
        headers = {"x-sdk-key": self.tenant.sdk_key} if "sdk_key" in route.security else {}
        if "bearer_jwt" in route.security:
            token = self.root if route.path.startswith("/v1/admin/") else self.tenant.token
            token = self.bystander if route.path == "/v1/auth/password" else token
            headers["Authorization"] = f"Bearer {token}"
        return headers


def spec_routes(spec: dict[str, Any]) -> list[Route]:
    routes = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            security = frozenset(name for req in op.get("security", []) for name in req)
            routes.append(Route(method.upper(), path, security, body, query))
    return routes


@pytest.fixture(scope="module")
async def fuzz(module_api: Api) -> Fuzz:
    api = module_api
    t = await api.tenant("Fuzz")
    env = f"/v1/environments/{t.environment_id}"
    variants = [{"key": "off", "value": False}, {"key": "on", "value": True}]
    await api.ok(
        "POST", f"{env}/flags", token=t.token, json={"key": "f1", "value_type": "bool", "variants": variants}
    )
    await api.ok(
        "POST", f"{env}/segments", token=t.token, json={"key": "s1", "kind": "list", "included_keys": ["u1"]}
    )
    await api.ok(
        "POST", f"{env}/event-definitions", token=t.token, json={"key": "m1", "value_type": "double"}
    )
    body = {"name": "e", "flag_key": "f1", "variant_keys": ["off", "on"], "metric_keys": ["m1"]}
    experiment = await api.ok("POST", f"{env}/experiments", token=t.token, json=body)
    job = await api.ok("POST", f"{env}/experiments/{experiment['id']}/recompute", token=t.token, json={})
    saml = {"display_name": "Fuzz IdP", "enabled": False, "saml": {"idp_metadata_xml": "<EntityDescriptor/>"}}
    # Disabled: "require SSO" then answers 409, so no run locks the fuzz tenant out of password logins.
    provider = await api.ok("POST", "/v1/management/auth-providers", token=t.token, json=saml)
    email = "bystander@fuzz.test"
    member = {"email": email, "password": PASSWORD, "org_role": "org_member"}
    user = await api.ok("POST", "/v1/management/users", token=t.token, json=member)
    values = {
        "env_id": str(t.environment_id),
        "environment_id": str(t.environment_id),
        "project_id": str(t.project_id),
        "org_id": str(t.org_id),
        "key_id": str(t.sdk_key_id),
        "user_id": user["user_id"],
        "experiment_id": experiment["id"],
        "job_id": job["job_id"],
        "provider_id": provider["provider"]["id"],
        "flags": "f1",
        "segments": "s1",
        "event-definitions": "m1",
    }
    spec = create_app(api.deps, bootstrap=False).openapi_schema.to_schema()
    hints: dict[str, list[Any]] = {
        "flag_key": ["f1"], "key": ["f1", "s1", "m1", "on"], "segment_key": ["s1"], "metric_key": ["m1"],
        "variant_key": ["on", "off"], "variant_keys": [["off", "on"]], "metric_keys": [["m1"]],
        "context_key": ["u1"], "version": [0, 1, 2], "org_id": [str(t.org_id)],
        "target_org_id": [str(t.org_id)], "new_status": ["active", "paused", "concluded", "draft"],
    }  # fmt: skip
    return Fuzz(
        api=api,
        tenant=t,
        root=await api.root(),
        bystander=(await api.login(email, org_id=t.org_id))["access_token"],
        values=values,
        routes=spec_routes(spec),
        components=spec["components"]["schemas"],
        hints=hints,
    )


def check_answer(response: httpx.Response, where: Any) -> int:
    """Never a 500; every error is exactly the envelope. The status, for the callers' coverage checks."""
    assert response.status_code < 500, (where, response.text[:500])
    if response.status_code >= 400:
        assert_envelope(response, response.status_code)
    return response.status_code


def on_loop(loop: asyncio.AbstractEventLoop, call: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
    return asyncio.run_coroutine_threadsafe(call, loop).result(timeout=60)


def body_routes(f: Fuzz) -> list[Route]:
    return [r for r in f.routes if r.body_schema is not None]


async def test_generated_bodies_never_produce_a_500_or_an_envelope_less_error(fuzz: Fuzz) -> None:
    loop = asyncio.get_running_loop()
    routes = body_routes(fuzz)
    assert len(routes) > 30
    classes: Counter[int] = Counter()
    pairs = st.sampled_from(routes).flatmap(
        lambda r: st.tuples(st.just(r), body_strategy(r.body_schema or {}, fuzz.components, fuzz.hints))
    )

    @FUZZ
    @given(pair=pairs)
    def check(pair: tuple[Route, Any]) -> None:
        route, body = pair
        content = json.dumps(body).encode()
        headers = {**fuzz.headers(route), "content-type": "application/json"}
        call = fuzz.api.call(route.method, fuzz.url(route), content=content, headers=headers)
        classes[check_answer(on_loop(loop, call), (route.method, route.path, content[:300])) // 100] += 1

    await asyncio.to_thread(check)
    assert classes[2], classes  # the schema's shapes reach the domain ...
    assert classes[4], classes  # ... and the junk is refused


async def test_raw_payloads_never_produce_a_500(fuzz: Fuzz) -> None:
    loop = asyncio.get_running_loop()

    @settings(FUZZ, max_examples=120)
    @given(route=st.sampled_from(body_routes(fuzz)), payload=raw_payloads)
    def check(route: Route, payload: tuple[bytes, str]) -> None:
        content, kind = payload
        headers = {**fuzz.headers(route), "content-type": kind}
        call = fuzz.api.call(route.method, fuzz.url(route), content=content, headers=headers)
        response = on_loop(loop, call)
        check_answer(response, (route.method, route.path, content[:100], kind))
        assert response.status_code >= 400 or content.strip().startswith(b"{"), (route.path, content[:100])

    await asyncio.to_thread(check)


async def test_oversize_bodies_are_resource_exhausted_on_every_route(fuzz: Fuzz) -> None:
    limit = fuzz.api.deps.settings.max_body_bytes
    content = json.dumps({"key": "x" * limit}).encode()
    for route in body_routes(fuzz):
        headers = {**fuzz.headers(route), "content-type": "application/json"}
        response = await fuzz.api.call(route.method, fuzz.url(route), content=content, headers=headers)
        assert_envelope(response, 413, "RESOURCE_EXHAUSTED")


PATH_VALUES = st.one_of(
    st.text(min_size=1, max_size=60),
    st.uuids().map(str),
    st.sampled_from(
        ["..", ".", "\x00", "f1\x00", "%00", "null", "-1", "0" * 400, "a" * 5000, "😀", "f1/../s1"]
    ),
)


async def test_generated_path_values_never_produce_a_500(fuzz: Fuzz) -> None:
    loop = asyncio.get_running_loop()
    routes = [r for r in fuzz.routes if PARAM.search(r.path) and r.method in ("GET", "DELETE", "POST", "PUT")]

    @settings(FUZZ, max_examples=300)
    @given(route=st.sampled_from(routes), value=PATH_VALUES, which=st.integers(0, 3))
    def check(route: Route, value: str, which: int) -> None:
        names = PARAM.findall(route.path)
        target = names[which % len(names)]
        path = PARAM.sub(lambda m: quote(value, safe="") if m.group(1) == target else m.group(0), route.path)
        url = fuzz.url(Route(route.method, path, route.security, route.body_schema, route.query))
        body: dict[str, Any] | None = {} if route.method in ("POST", "PUT") else None
        call = fuzz.api.call(route.method, url, json=body, headers=fuzz.headers(route))
        check_answer(on_loop(loop, call), (route.method, route.path, target, value[:100]))

    await asyncio.to_thread(check)


QUERY_VALUES = st.one_of(
    st.text(max_size=40),
    st.integers().map(str),
    st.sampled_from(
        ["", "\x00", "-1", "0", "1", str(2**63), "1e9", "true", "2026-13-45T99:00:00", "2020-01-01T00:00:00Z"]
    ),
)


async def test_generated_query_params_never_produce_a_500(fuzz: Fuzz) -> None:
    loop = asyncio.get_running_loop()
    routes = [r for r in fuzz.routes if r.query]
    assert routes

    @settings(FUZZ, max_examples=150)
    @given(route=st.sampled_from(routes), data=st.data())
    def check(route: Route, data: st.DataObject) -> None:
        names = data.draw(
            st.lists(st.sampled_from([*route.query, "junk"]), min_size=1, max_size=3, unique=True)
        )
        query = {name: data.draw(QUERY_VALUES) for name in names}
        url = f"{fuzz.url(route)}?{urlencode(query)}"
        call = fuzz.api.call(route.method, url, headers=fuzz.headers(route))
        check_answer(on_loop(loop, call), (route.method, route.path, query))

    await asyncio.to_thread(check)


async def test_the_fuzzed_tenant_still_works(fuzz: Fuzz) -> None:
    """Coverage guard: the credentials the fuzzers used were valid throughout (else they fuzzed only auth)."""
    response = await fuzz.api.call("GET", "/v1/management/projects", token=fuzz.tenant.token)
    assert response.status_code == 200, response.text
    env = f"/v1/environments/{fuzz.tenant.environment_id}"
    evaluated = await fuzz.api.call(
        "POST", f"{env}/evaluate-all", json={"context_key": "u1"}, headers={"x-sdk-key": fuzz.tenant.sdk_key}
    )
    assert evaluated.status_code == 200, evaluated.text


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("PUT", "/v1/auth/password", b"[" * 3000 + b"]" * 3000),  # msgspec: RecursionError
        ("POST", "/v1/auth/login", b'{"email": "a\\u0000@b.test", "password": "secret password"}'),  # NUL
        ("GET", "/v1/environments/{env_id}/flags/f1%00", None),  # NUL in a path key
        ("GET", "/v1/environments/{env_id}/audit?actor=%00", None),  # NUL in a query value
    ],
)
async def test_inputs_that_once_produced_a_500_are_invalid_arguments(
    fuzz: Fuzz, method: str, path: str, content: bytes | None
) -> None:
    route = Route(method, path, frozenset({"bearer_jwt"}), None, [])
    headers = {**fuzz.headers(route), "content-type": "application/json"}
    response = await fuzz.api.call(method, fuzz.url(route), content=content, headers=headers)
    assert response.status_code in (400, 401), response.text  # login may just not find the user
    assert_envelope(response, response.status_code)


async def test_validation_messages_name_the_source_plainly(fuzz: Fuzz) -> None:
    route = Route("POST", "/v1/environments/{env_id}/flags", frozenset({"bearer_jwt"}), None, [])
    empty = await fuzz.api.call("POST", fuzz.url(route), content=b"", headers=fuzz.headers(route))
    assert "JSON body is required" in assert_envelope(empty, 400, "INVALID_ARGUMENT")["error"]
    audit = Route("GET", "/v1/environments/{env_id}/audit", frozenset({"bearer_jwt"}), None, [])
    limit = await fuzz.api.call("GET", fuzz.url(audit) + "?limit=many", headers=fuzz.headers(audit))
    assert "query field `limit`" in assert_envelope(limit, 400, "INVALID_ARGUMENT")["error"]


HEADER_VALUES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    st.sampled_from(["Bearer ", "Bearer a.b.c", "sdk_live_", "sdk_live_" + "A" * 5000, "-1", "9" * 30]),
    st.integers(0, 2**70).map(str),
)
# A future position makes the gateway wait (bounded, by design) for the projections: only past ones here.
POSITIONS = st.one_of(
    st.integers(0, 5).map(str),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30).filter(
        lambda v: not v.strip().isdigit()
    ),
    st.just("9" * 19),
)
HEADER_NAMES = ["authorization", "x-sdk-key", "x-stitchd-min-position", "idempotency-key", "content-type"]


def header_value(name: str) -> st.SearchStrategy[str]:
    return POSITIONS if name == "x-stitchd-min-position" else HEADER_VALUES


async def test_generated_headers_never_produce_a_500(fuzz: Fuzz) -> None:
    loop = asyncio.get_running_loop()

    @settings(FUZZ, max_examples=150)
    @given(route=st.sampled_from(fuzz.routes), data=st.data())
    def check(route: Route, data: st.DataObject) -> None:
        names = data.draw(st.lists(st.sampled_from(HEADER_NAMES), min_size=1, max_size=3, unique=True))
        headers = {**fuzz.headers(route), **{name: data.draw(header_value(name)) for name in names}}
        shape = (
            body_strategy(route.body_schema, fuzz.components, fuzz.hints) if route.body_schema else st.none()
        )
        content = json.dumps(data.draw(shape)).encode() if route.body_schema else None
        call = fuzz.api.call(route.method, fuzz.url(route), content=content, headers=headers)
        check_answer(on_loop(loop, call), (route.method, route.path, headers))

    await asyncio.to_thread(check)
