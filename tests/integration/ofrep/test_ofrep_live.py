"""OFREP against the live `stitchd gateway` process: a real OFREP provider from PyPI on openfeature-sdk,
the bulk ETag/304 over HTTP, and the SSE change stream (change, revocation)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openfeature import api as openfeature_api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from tests import stack as stack_fixtures
from tests.conformance.ofrep_schema import validate
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Tenant
from tests.integration.ofrep.support import BULK, checked, key_headers
from tests.integration.stitchd.test_gateway_main import gateway_process
from tests.integration.sync_broadcaster.support import WAIT, Admin, plan_rule
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name


async def _until_live(client: httpx.AsyncClient, tenant: Tenant, predicate: Any) -> dict[str, Any]:
    """Poll the live gateway's bulk answer until `predicate(body)` (its cache follows the log)."""
    async with asyncio.timeout(WAIT):
        while True:
            answer = await client.post("/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "u1"}},
                                       headers=key_headers(tenant.sdk_key))  # fmt: skip
            if answer.status_code == 200 and predicate(answer.json()):
                return dict(answer.json())
            await asyncio.sleep(0.05)


async def test_the_pypi_ofrep_provider_evaluates_against_the_live_gateway(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    await admin.rules(plan_rule("pro"))
    async with gateway_process(stack) as client:
        await _until_live(client, tenant, lambda body: body["flags"][0]["metadata"].get("sequence", 0) > 0)
        provider = OFREPProvider(str(client.base_url), headers_factory=lambda: {"X-API-Key": tenant.sdk_key})
        openfeature_api.set_provider(provider, domain="ofrep-live")
        of = openfeature_api.get_client(domain="ofrep-live")
        try:
            pro = await asyncio.to_thread(
                of.get_boolean_details, "checkout", False, EvaluationContext("u1", {"plan": "pro"})
            )
            missing = await asyncio.to_thread(of.get_boolean_details, "nope", True, EvaluationContext("u1"))
            anonymous = await asyncio.to_thread(of.get_boolean_details, "checkout", True, EvaluationContext())
            wrong_type = await asyncio.to_thread(
                of.get_string_details, "checkout", "x", EvaluationContext("u1")
            )
        finally:
            openfeature_api.clear_providers()
    assert (pro.value, pro.variant, pro.reason, pro.error_code) == (True, "on", Reason.TARGETING_MATCH, None)
    assert pro.flag_metadata["ruleId"] == "pro"
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    assert (anonymous.value, anonymous.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)
    assert (wrong_type.value, wrong_type.error_code) == ("x", ErrorCode.TYPE_MISMATCH)


async def test_bulk_etag_and_304_on_the_live_gateway(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    async with gateway_process(stack) as client:
        await _until_live(client, tenant, lambda body: len(body["flags"]) == 1)
        context = {"context": {"targetingKey": "u1"}}
        first = checked(BULK, await client.post("/ofrep/v1/evaluate/flags", json=context,
                                                 headers=key_headers(tenant.sdk_key)))  # fmt: skip
        etag = first.headers["ETag"]
        conditional = {**key_headers(tenant.sdk_key), "If-None-Match": etag}
        again = await client.post("/ofrep/v1/evaluate/flags", json=context, headers=conditional)
        assert (again.status_code, again.headers["ETag"]) == (304, etag)
        other = {"context": {"targetingKey": "u2"}}
        assert (
            await client.post("/ofrep/v1/evaluate/flags", json=other, headers=conditional)
        ).status_code == 200
        await admin.toggle(False)
        await _until_live(client, tenant, lambda body: body["flags"][0]["reason"] == "DISABLED")
        changed = await client.post("/ofrep/v1/evaluate/flags", json=context, headers=conditional)
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """SSE messages (comments skipped) as field dicts."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def test_the_event_stream_tells_of_each_change_and_ends_at_revocation(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    created = await admin.create_flag()
    async with gateway_process(stack) as client:
        await _until_live(client, tenant, lambda body: len(body["flags"]) == 1)
        headers = {**key_headers(tenant.sdk_key, "x-sdk-key"), "Last-Event-ID": "0"}
        async with client.stream("GET", "/ofrep/v1/event-stream", headers=headers, timeout=WAIT) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = _events(stream)
            first = await anext(events)
            toggled = await admin.toggle(False)
            second = await anext(events)
            keys = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
            await api.ok("POST", keys, token=tenant.token, json={"name": "second"})
            await api.ok("DELETE", f"{keys}/{tenant.sdk_key_id}", token=tenant.token)
            rest = [event async for event in events]  # the stream ends once the key is revoked
    for event in (first, second):
        assert event["event"] == "message"
        validate("sseEvent", event)
        validate("sseEventData", json.loads(event["data"]))
    assert (int(first["id"]), int(second["id"])) == (created, toggled)
    assert json.loads(second["data"]) == {"type": "refetchEvaluation", "etag": str(toggled)}
    assert all(int(e["id"]) > toggled for e in rest)
