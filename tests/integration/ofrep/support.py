"""OFREP calls against the gateway, each request and answer checked against the vendored OFREP OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conformance.ofrep_schema import response_component, validate
from tests.integration.gateway.support import Api, Tenant

SINGLE, BULK = "evaluateFlag", "evaluateFlagsBulk"


def key_headers(raw_key: str, form: str = "authorization") -> dict[str, str]:
    """The SDK key in one of the header forms OFREP providers send."""
    if form == "authorization":
        return {"Authorization": f"Bearer {raw_key}"}
    return {form: raw_key}


def checked(operation: str, response: httpx.Response) -> httpx.Response:
    """The answer, after checking its body against the schema the OFREP spec gives for its status."""
    component = response_component(operation, response.status_code)
    if component is not None:
        validate(component, response.json())
    return response


async def single(
    api: Api, tenant: Tenant, key: str, context: Any, *, form: str = "authorization", position: int = 0
) -> httpx.Response:
    """POST /ofrep/v1/evaluate/flags/{key} with `{"context": context}`."""
    body = {"context": context}
    headers = {**key_headers(tenant.sdk_key, form), "x-stitchd-min-position": str(position)}
    response = await api.call("POST", f"/ofrep/v1/evaluate/flags/{key}", json=body, headers=headers)
    return checked(SINGLE, response)


async def bulk(
    api: Api, tenant: Tenant, context: Any, *, etag: str | None = None, position: int = 0
) -> httpx.Response:
    """POST /ofrep/v1/evaluate/flags, conditional on `etag` when given."""
    headers = {**key_headers(tenant.sdk_key), "x-stitchd-min-position": str(position)}
    if etag is not None:
        headers["If-None-Match"] = etag
    response = await api.call("POST", "/ofrep/v1/evaluate/flags", json={"context": context}, headers=headers)
    return checked(BULK, response)
