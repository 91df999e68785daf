"""The seed's request messages, sent exactly as the seed writes them, get what our shapes get (issue 11, 6).

Against the real gateway over the real stack (one per module): each seed body and our body create two
twin objects whose answers agree but for ids, positions and times; an id contradicting the path is 400.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import uuid4

import pytest

from tests.integration.gateway.module_stack import module_api_fixture, module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import Api, Tenant, assert_envelope

pytestmark = pytest.mark.integration
VARIANTS = [{"key": "off", "value": False}, {"key": "on", "value": True}]
UNSTABLE = {"id", "key", "position", "created_at", "updated_at", "created_at_ms", "updated_at_ms", "name"}
LEAF = {"kind": "leaf", "attribute": {"context_type": "user", "name": "plan"}, "op": "eq", "value": "pro"}


@pytest.fixture(scope="module")
async def tenant(module_api: Api) -> Tenant:
    t = await module_api.tenant("Seedshapes")
    env = f"/v1/environments/{t.environment_id}"
    for key in ("f1", "f2"):
        flag = {"key": key, "value_type": "bool", "variants": VARIANTS}
        await module_api.ok("POST", f"{env}/flags", token=t.token, json=flag)
    return t


def stable(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in UNSTABLE}


async def twins(api: Api, t: Tenant, method: str, path: str, seed: Any, ours: Any) -> list[dict[str, Any]]:
    """Both answers, each a success."""
    return [await api.ok(method, path, token=t.token, json=body) for body in (seed, ours)]


async def test_create_experiment_request_wrapper_and_flat_form_create_what_ours_creates(
    module_api: Api, tenant: Tenant
) -> None:
    env = str(tenant.environment_id)
    path = f"/v1/environments/{env}/experiments"
    experiment = {"name": "E", "flag_key": "f1", "variant_keys": ["off", "on"], "description": "d"}
    wrapped = {"experiment": {**experiment, "environment_id": env}}
    flat = {**experiment, "environment_id": env}
    answers = [
        await module_api.ok("POST", path, token=tenant.token, json=b) for b in (wrapped, flat, experiment)
    ]
    assert stable(answers[0]) == stable(answers[1]) == stable(answers[2])
    assert answers[0]["status"] == "DRAFT"


async def test_update_and_transition_requests_of_the_seed_change_what_ours_change(
    module_api: Api, tenant: Tenant
) -> None:
    env = str(tenant.environment_id)
    base = f"/v1/environments/{env}/experiments"
    body = {"name": "T", "flag_key": "f2", "variant_keys": ["off", "on"]}
    one, two = [await module_api.ok("POST", base, token=tenant.token, json=body) for _ in range(2)]
    seed_update = {"experiment": {"id": one["id"], "environment_id": env, "description": "x", "version": 1}}
    ours_update = {"description": "x", "version": 1}
    updated = [
        await module_api.ok("PUT", f"{base}/{e['id']}", token=tenant.token, json=b)
        for e, b in ((one, seed_update), (two, ours_update))
    ]
    assert stable(updated[0]) == stable(updated[1])
    seed = {"environment_id": env, "experiment_id": one["id"], "new_status": "EXPERIMENT_STATUS_ACTIVE"}
    moved = [
        await module_api.ok("POST", f"{base}/{e['id']}/transition", token=tenant.token, json=b)
        for e, b in ((one, {**seed, "version": 2}), (two, {"new_status": "ACTIVE", "version": 2}))
    ]
    assert stable(moved[0]) == stable(moved[1])
    assert moved[0]["status"] == "ACTIVE"


async def test_update_flag_hashing_request_hashes_as_ours(module_api: Api, tenant: Tenant) -> None:
    env = str(tenant.environment_id)
    configs = [{"parameter_key": "org", "parameter_type": "user", "order": 0}]
    flags = f"/v1/environments/{env}/flags"
    v = {k: (await module_api.ok("GET", f"{flags}/{k}", token=tenant.token))["version"] for k in ("f1", "f2")}
    seed = {"environment_id": env, "flag_key": "f1", "configs": configs, "version": v["f1"]}
    answers = [
        await module_api.ok("PUT", f"{flags}/{key}/hashing", token=tenant.token, json=b)
        for key, b in (("f1", seed), ("f2", {"configs": configs, "version": v["f2"]}))
    ]
    assert answers[0]["configs"] == answers[1]["configs"] == configs


async def test_event_definition_with_the_proto_enum_name_is_registered(
    module_api: Api, tenant: Tenant
) -> None:
    env = str(tenant.environment_id)
    path = f"/v1/environments/{env}/event-definitions"
    seed = {"key": "clicked", "value_type": "METRIC_VALUE_TYPE_BOOL", "environment_id": env}
    ours = {"key": "clicked2", "value_type": "bool"}
    answers = await twins(module_api, tenant, "POST", path, seed, ours)
    assert stable(answers[0]) == stable(answers[1])
    assert answers[0]["value_type"] == "bool"


async def test_list_and_rule_segment_messages_create_segments(module_api: Api, tenant: Tenant) -> None:
    env = str(tenant.environment_id)
    path = f"/v1/environments/{env}/segments"
    listed = {"key": "beta", "context_type": "user", "included_keys": ["u1"], "excluded_keys": []}
    ours = {**listed, "key": "beta2", "kind": "list"}
    answers = await twins(module_api, tenant, "POST", path, listed, ours)
    assert stable(answers[0]) == stable(answers[1])
    assert answers[0]["kind"] == "list"
    payload = base64.b64encode(json.dumps(LEAF).encode()).decode()
    rule = {"key": "pro", "context_type": "user", "rule_payload": payload}
    ours_rule = {"key": "pro2", "context_type": "user", "kind": "rule", "condition": LEAF}
    answers = await twins(module_api, tenant, "POST", path, rule, ours_rule)
    assert stable(answers[0]) == stable(answers[1])
    assert answers[0]["condition"] == LEAF


async def test_ids_contradicting_the_path_are_refused_in_the_envelope(
    module_api: Api, tenant: Tenant
) -> None:
    env, other = str(tenant.environment_id), str(uuid4())
    base = f"/v1/environments/{env}"
    bad = [
        (
            "POST",
            "experiments",
            {"experiment": {"name": "E", "flag_key": "f1", "variant_keys": ["on"], "environment_id": other}},
        ),
        ("PUT", "flags/f1/hashing", {"flag_key": "f2", "configs": [], "version": 0}),
        ("POST", "event-definitions", {"key": "k", "value_type": "int", "environment_id": other}),
        ("POST", "segments", {"key": "s9", "environment_id": other}),
    ]
    for method, rest, body in bad:
        response = await module_api.call(method, f"{base}/{rest}", token=tenant.token, json=body)
        assert "contradicts the path" in assert_envelope(response, 400, "INVALID_ARGUMENT")["error"]
    project = f"/v1/management/projects/{tenant.project_id}/environments"
    response = await module_api.call(
        "POST", project, token=tenant.token, json={"name": "x", "project_id": other}
    )
    assert_envelope(response, 400, "INVALID_ARGUMENT")


async def test_the_deployment_guides_sdk_key_routes_issue_list_and_revoke(
    module_api: Api, tenant: Tenant
) -> None:
    keys = f"/api/v1/environments/{tenant.environment_id}/sdk-keys"
    created = await module_api.ok("POST", keys, token=tenant.token, json={"name": "production-server"})
    assert created["raw_key"]
    assert created["name"] == "production-server"
    listed = await module_api.ok("GET", keys, token=tenant.token)
    management = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
    assert listed == await module_api.ok("GET", management, token=tenant.token)
    assert created["sdk_key_id"] in {k["sdk_key_id"] for k in listed["sdk_keys"]}
    revoked = await module_api.ok("DELETE", f"/api/v1/sdk-keys/{created['sdk_key_id']}", token=tenant.token)
    assert revoked["status"] == "revoked"
    unknown = await module_api.call("DELETE", f"/api/v1/sdk-keys/{uuid4()}", token=tenant.token)
    assert_envelope(unknown, 404, "NOT_FOUND")


async def test_mutate_flag_and_segment_requests_create_what_ours_create(
    module_api: Api, tenant: Tenant
) -> None:
    env = str(tenant.environment_id)
    payload = base64.b64encode(json.dumps(LEAF).encode()).decode()
    variants = [{"key": "off", "value": {"bool_value": False}}, {"key": "on", "value": {"bool_value": True}}]
    rules = [{"rule_payload": payload, "variant_key": "on"}, {"variant_key": "off"}]
    seed_flag = {"key": "m1", "value_type": "FLAG_VALUE_TYPE_BOOL", "variants": variants, "rules": rules}
    seed = {"environment_id": env, "kind": "MUTATION_KIND_CREATE", "flag": seed_flag}
    ours = {
        "key": "m2", "value_type": "bool", "variants": VARIANTS,
        "rules": [{"condition": LEAF, "serve": {"variant_key": "on"}}], "fallthrough": {"variant_key": "off"},
    }  # fmt: skip
    flags = await twins(module_api, tenant, "POST", f"/v1/environments/{env}/flags", seed, ours)
    strip = {"rules"}  # generated rule ids differ
    assert {k: v for k, v in stable(flags[0]).items() if k not in strip} == {
        k: v for k, v in stable(flags[1]).items() if k not in strip
    }
    assert flags[0]["rules"][0]["condition"] == LEAF
    listed = {"key": "ms1", "context_type": "user", "included_keys": ["u1"]}
    seed_segment = {"environment_id": env, "kind": "SEGMENT_MUTATION_KIND_CREATE", "list_segment": listed}
    segments = await twins(
        module_api, tenant, "POST", f"/v1/environments/{env}/segments", seed_segment,
        {**listed, "key": "ms2", "kind": "list"},
    )  # fmt: skip
    assert stable(segments[0]) == stable(segments[1])
