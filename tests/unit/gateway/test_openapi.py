"""The OpenAPI spec covers every route, declares both security schemes and documents the error envelope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from stitchd.gateway_main import openapi_document, openapi_main

OPEN_ROUTES = {"/v1/auth/login", "/v1/auth/refresh", "/v1/admin/seed-user", "/healthz"}
# Single sign-on (issue 13): a login page calls these before anyone is logged in.
OPEN_ROUTES |= {"/v1/auth/providers", "/v1/auth/oidc/authorize", "/v1/auth/oidc/callback"}
OPEN_ROUTES |= {
    "/v1/auth/saml/sso",
    "/v1/auth/saml/acs",
    "/v1/auth/saml/{provider_id}/acs",
    "/v1/auth/saml/{provider_id}/metadata",
}
METHODS = ("get", "post", "put", "patch", "delete")
OFREP_KEYS = {"ofrep_api_key", "sdk_key_bearer"}  # the SDK key in OFREP providers' header forms


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return openapi_document()


def _app() -> Litestar:
    from gateway.app import create_app
    from stitchd.gateway_main import _offline_deps

    return create_app(_offline_deps(), bootstrap=False)


def _registered_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every route handler in the app that is meant to be documented."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            path = route.path_format or "/"
            for method in handler.http_methods:
                if method.lower() in METHODS:
                    found.add((method.lower(), path))
    return found


def test_every_registered_route_is_in_the_spec(spec: dict[str, Any]) -> None:
    documented = {(m, p) for p, item in spec["paths"].items() for m in item if m in METHODS}
    missing = _registered_routes(_app()) - documented
    assert not missing, f"routes missing from the OpenAPI spec: {sorted(missing)}"


def test_both_security_schemes_are_declared(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["sdk_key"] == {"type": "apiKey", "name": "x-sdk-key", "in": "header"}
    assert schemes["bearer_jwt"]["type"] == "http"
    assert schemes["bearer_jwt"]["scheme"] == "bearer"


def test_open_routes_declare_empty_security_and_all_others_a_scheme(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            if path in OPEN_ROUTES:
                assert op["security"] == [], (method, path)
            else:
                assert op["security"], f"{method.upper()} {path} declares no security scheme"
                schemes = {name for req in op["security"] for name in req}
                assert schemes <= {"sdk_key", "bearer_jwt", *OFREP_KEYS}


def test_every_error_response_is_the_envelope(spec: dict[str, Any]) -> None:
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS or path.startswith("/ofrep/"):  # OFREP's own bodies: test_ofrep_openapi
                continue
            errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
            assert "400" in errors, (method, path)
            assert "500" in errors, (method, path)
            for status, response in errors.items():
                assert response["content"]["application/json"]["schema"] == envelope, (method, path, status)
    assert spec["components"]["schemas"]["ErrorEnvelope"]["required"] == ["error", "code"]


def test_seed_routes_are_present(spec: dict[str, Any]) -> None:
    for path in (
        "/v1/auth/login",
        "/v1/admin/orgs",
        "/v1/admin/seed-user",
        "/v1/management/projects",
        "/v1/management/projects/{project_id}/environments",
        "/v1/management/users",
        "/v1/management/environments/{environment_id}/sdk-keys",
    ):
        assert path in spec["paths"], path


def test_login_documents_both_token_field_sets(spec: dict[str, Any]) -> None:
    reply = spec["components"]["schemas"]["TokenReply"]["properties"]
    assert {"token", "expires_at", "access_token", "refresh_token", "expires_in", "user_id", "org_id"} <= set(
        reply
    )


def test_cli_export_writes_the_same_spec(tmp_path: Path, spec: dict[str, Any]) -> None:
    out = tmp_path / "openapi.json"
    assert openapi_main(["-o", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(spec))


async def test_running_gateway_serves_the_spec_and_interactive_docs(spec: dict[str, Any]) -> None:
    import httpx

    transport = httpx.ASGITransport(app=cast(Any, _app()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        served = await client.get("/docs/openapi.json")
        docs = await client.get("/docs")
    assert served.status_code == 200
    assert set(served.json()["paths"]) == set(spec["paths"])
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_the_app_leaves_the_process_logging_alone() -> None:
    """Litestar's default logging config would replace the root handler, and with it our redaction."""
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    app = _app()
    assert app.logging_config is None
    assert root.handlers == before
