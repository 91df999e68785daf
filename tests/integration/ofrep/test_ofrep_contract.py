"""Both OFREP endpoints over the real stack, every request and answer validated against the OFREP OpenAPI."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from gateway.app import create_app
from gateway.evaluate import EXPOSURES_STATE
from tests import stack as stack_fixtures
from tests.conformance.ofrep_schema import validate
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Clock, Tenant, assert_envelope, gateway_deps, http_client
from tests.integration.gateway.test_evaluate import RecordingSink
from tests.integration.ofrep.support import BULK, SINGLE, bulk, checked, key_headers, single
from tests.integration.sync_broadcaster.support import BOOL_FLAG, Admin, plan_rule
from tests.stack import Stack

pytestmark = pytest.mark.integration
stack, api_fixture = stack_fixtures.stack, support.api_fixture  # fixtures (`stack`, `api`)

PRO = {"targetingKey": "u1", "plan": "pro"}
SPLIT_FLAG: dict[str, Any] = {
    **BOOL_FLAG,
    "key": "split",
    "fallthrough": {"allocation": {"buckets": [{"variant_key": "on", "weight_milli": 1000}]}},
}


async def _tenant_with_flags(api: Api) -> tuple[Tenant, int]:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    await admin.create_flag({**BOOL_FLAG, "key": "static", "fallthrough": {"variant_key": "on"}})
    await admin.create_flag(SPLIT_FLAG)
    return tenant, await admin.rules(plan_rule("pro"))


async def test_single_flag_answers_value_variant_reason_and_metadata(api: Api) -> None:
    tenant, position = await _tenant_with_flags(api)
    validate("evaluationRequest", {"context": PRO})
    pro = (await single(api, tenant, "checkout", PRO, position=position)).json()
    assert pro == {
        "key": "checkout", "reason": "TARGETING_MATCH", "variant": "on", "value": True,
        "metadata": {"reason": "TARGETING_MATCH", "sequence": position, "ruleId": "pro"},
    }  # fmt: skip
    free = (await single(api, tenant, "checkout", {"targetingKey": "u1", "plan": "free"})).json()
    assert (free["reason"], free["value"], free["metadata"]["reason"]) == ("UNKNOWN", False, "DEFAULT")
    static = (await single(api, tenant, "static", {"targetingKey": "u1"})).json()
    assert (static["reason"], static["value"]) == ("STATIC", True)
    split = (await single(api, tenant, "split", {"targetingKey": "u1"})).json()
    assert (split["reason"], split["variant"]) == ("SPLIT", "on")
    off = await Admin(api, tenant).toggle(False)
    disabled = (await single(api, tenant, "checkout", PRO, position=off)).json()
    assert (disabled["reason"], disabled["variant"], disabled["value"]) == ("DISABLED", "off", False)


@pytest.mark.parametrize("form", ["authorization", "x-api-key", "x-sdk-key"])
async def test_every_key_header_form_authenticates(api: Api, form: str) -> None:
    tenant, position = await _tenant_with_flags(api)
    answer = await single(api, tenant, "checkout", PRO, form=form, position=position)
    assert answer.status_code == 200, answer.text


async def test_missing_unknown_and_revoked_keys_are_401(api: Api) -> None:
    tenant, _ = await _tenant_with_flags(api)
    path = "/ofrep/v1/evaluate/flags/checkout"
    assert_envelope(await api.call("POST", path, json={"context": PRO}), 401, "UNAUTHENTICATED")
    wrong = key_headers(tenant.sdk_key + "x")
    assert_envelope(await api.call("POST", path, json={"context": PRO}, headers=wrong), 401)
    keys = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
    await api.ok("POST", keys, token=tenant.token, json={"name": "second"})
    await api.ok("DELETE", f"{keys}/{tenant.sdk_key_id}", token=tenant.token)
    seen = {
        **key_headers(tenant.sdk_key),
        "x-stitchd-min-position": str(await api.deps.event_log.head_position()),
    }
    assert_envelope(await api.call("POST", path, json={"context": PRO}, headers=seen), 401)
    assert_envelope(await api.call("POST", "/ofrep/v1/evaluate/flags", json={}, headers=seen), 401)


def _many_attributes(count: int) -> bytes:
    attributes = {f"a{i}": i for i in range(count)}
    return json.dumps({"context": {"targetingKey": "u1", **attributes}}).encode()


def _many_kinds(count: int) -> bytes:
    kinds = {f"kind{i}": {"targetingKey": "u1"} for i in range(count)}
    return json.dumps({"context": {"kind": "multi", **kinds}}).encode()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "PARSE_ERROR"),
        (b"[1, 2]", "PARSE_ERROR"),
        (b"{}", "TARGETING_KEY_MISSING"),
        (b'{"context": {"plan": "pro"}}', "TARGETING_KEY_MISSING"),
        (b'{"context": {"targetingKey": ""}}', "TARGETING_KEY_MISSING"),
        (b'{"context": {"kind": "multi"}}', "TARGETING_KEY_MISSING"),
        (b'{"context": {"targetingKey": 7}}', "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": "u1", "tags": ["a"]}}', "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": "u1", "kind": ""}}', "INVALID_CONTEXT"),
        (b'{"context": {"kind": "multi", "user": "u1"}}', "INVALID_CONTEXT"),
        (b'{"context": "u1"}', "INVALID_CONTEXT"),
        # the SDK bodies' bounds (schemas/http_context.py), as on /evaluate
        (b'{"context": {"targetingKey": "%s"}}' % (b"k" * 513), "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": "u1", "kind": "%s"}}' % (b"t" * 257), "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": "u1", "plan": "%s"}}' % (b"p" * 4097), "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": "u1", "n": 9223372036854775808}}', "INVALID_CONTEXT"),
        (_many_attributes(257), "INVALID_CONTEXT"),
        (_many_kinds(17), "INVALID_CONTEXT"),
    ],
)
async def test_bad_requests_answer_their_error_code_on_both_endpoints(
    api: Api, content: bytes, code: str
) -> None:
    tenant, _ = await _tenant_with_flags(api)
    headers = {**key_headers(tenant.sdk_key), "content-type": "application/json"}
    one = await api.call("POST", "/ofrep/v1/evaluate/flags/checkout", content=content, headers=headers)
    assert (one.status_code, checked(SINGLE, one).json()["errorCode"], one.json()["key"]) == (
        400,
        code,
        "checkout",
    )
    every = await api.call("POST", "/ofrep/v1/evaluate/flags", content=content, headers=headers)
    assert (every.status_code, checked(BULK, every).json()["errorCode"]) == (400, code)


async def test_an_unknown_flag_is_404_flag_not_found(api: Api) -> None:
    tenant, _ = await _tenant_with_flags(api)
    answer = await single(api, tenant, "nope", PRO)
    assert answer.status_code == 404
    assert answer.json() == {
        "key": "nope",
        "errorCode": "FLAG_NOT_FOUND",
        "errorDetails": "flag 'nope' was not found",
    }


async def test_multi_kind_context_evaluates_each_kind(api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    org_rule = plan_rule("enterprise")
    org_rule["condition"]["attribute"]["context_type"] = "org"
    position = await admin.rules(org_rule)
    multi = {
        "kind": "multi",
        "targetingKey": "u1",
        "user": {"targetingKey": "u1"},
        "org": {"targetingKey": "o1", "plan": "enterprise"},
    }
    validate("evaluationRequest", {"context": multi})
    answer = (await single(api, tenant, "checkout", multi, position=position)).json()
    assert (answer["reason"], answer["value"]) == ("TARGETING_MATCH", True)
    as_org = (
        await single(api, tenant, "checkout", {"kind": "org", "targetingKey": "o1", "plan": "enterprise"})
    ).json()
    assert as_org["value"] is True
    as_user = (await single(api, tenant, "checkout", {"targetingKey": "o1", "plan": "enterprise"})).json()
    assert as_user["value"] is False  # the rule reads the org's plan, a user context has none


async def test_bulk_answers_every_flag_with_an_etag_over_definitions_and_context(api: Api) -> None:
    tenant, position = await _tenant_with_flags(api)
    first = await bulk(api, tenant, PRO, position=position)
    assert first.status_code == 200
    body = first.json()
    assert [f["key"] for f in body["flags"]] == ["checkout", "split", "static"]
    assert body["metadata"] == {"sequence": position}
    assert body["eventStreams"] == [
        {"type": "sse", "endpoint": {"requestUri": "/ofrep/v1/event-stream"}, "inactivityDelaySec": 120}
    ]
    etag = first.headers["ETag"]
    same = await bulk(api, tenant, dict(reversed(PRO.items())), etag=etag)
    assert (same.status_code, same.content, same.headers["ETag"]) == (304, b"", etag)
    assert (await bulk(api, tenant, PRO, etag=f'W/{etag}, "other"')).status_code == 304
    other_context = await bulk(api, tenant, {"targetingKey": "u2", "plan": "pro"}, etag=etag)
    assert other_context.status_code == 200  # same values, another context: never another context's 304
    assert other_context.headers["ETag"] != etag
    changed = await Admin(api, tenant).toggle(False)
    after = await bulk(api, tenant, PRO, etag=etag, position=changed)
    assert after.status_code == 200
    assert after.headers["ETag"] not in {etag, other_context.headers["ETag"]}
    assert {f["reason"] for f in after.json()["flags"] if f["key"] == "checkout"} == {"DISABLED"}


async def test_flag_config_etag_query_and_last_modified_are_accepted(api: Api) -> None:
    tenant, position = await _tenant_with_flags(api)
    headers = key_headers(tenant.sdk_key)
    for query in (f"flagConfigEtag={position}&flagConfigLastModified=1771622898", "flagConfigEtag=x"):
        answer = await api.call(
            "POST", f"/ofrep/v1/evaluate/flags?{query}", json={"context": PRO}, headers=headers
        )
        assert checked(BULK, answer).status_code == 200
    advisory = await api.call(  # metadata for the SSE-triggered refetch only: any value, unused
        "POST",
        "/ofrep/v1/evaluate/flags?flagConfigLastModified=yesterday",
        json={"context": PRO},
        headers=headers,
    )
    assert checked(BULK, advisory).status_code == 200


async def test_single_flag_evaluations_emit_exposures_and_bulk_does_not(stack: Stack) -> None:
    sink = RecordingSink()
    app = create_app(replace(gateway_deps(stack, Clock())))
    app.state[EXPOSURES_STATE] = sink
    async with http_client(app) as client:
        await stack.settle()
        api = Api(client=client, deps=gateway_deps(stack, Clock()), clock=Clock())
        tenant, position = await _tenant_with_flags(api)
        await bulk(api, tenant, PRO, position=position)
        await single(api, tenant, "checkout", {**PRO, "kind": "member"}, position=position)
        await asyncio.wait_for(sink.arrived.wait(), 20)
    [exposure] = sink.exposures
    assert (exposure.flag_key, exposure.variant_key, exposure.context_type, exposure.context_key) == (
        "checkout",
        "off",
        "member",
        "u1",
    )
    assert exposure.environment_id == str(tenant.environment_id)
