"""Segment routes end to end: rule and list segments, membership batches, referential deletes."""

from __future__ import annotations

from typing import Any

import pytest

from readmodels.segments import list_memberships, rule_and_list_segments
from tests.integration.gateway.flags_support import BOOL_FLAG, Tenant, ok, tenant_fixture  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration

BETA: dict[str, Any] = {
    "key": "beta",
    "kind": "rule",
    "condition": {
        "kind": "leaf",
        "attribute": {"context_type": "user", "name": "plan"},
        "op": "eq",
        "value": "pro",
    },
}


def segments(t: Tenant) -> str:
    return f"/v1/environments/{t.env}/segments"


def in_segment(key: str) -> dict[str, Any]:
    return {"kind": "leaf", "attribute": {"context_type": "user"}, "op": "in_segment", "value": key}


async def test_list_segment_members_in_batches(tenant: Tenant) -> None:
    body = {"key": "vips", "kind": "list", "included_keys": ["u1", "u2"]}
    created = await ok(await tenant.call("POST", segments(tenant), body), 201)
    assert created["kind"] == "list"
    assert created["condition"] is None
    path = f"{segments(tenant)}/vips/members"
    changed = await ok(
        await tenant.call(
            "POST",
            path,
            {"add": ["u3"], "remove": ["u1"], "add_excluded": ["u2"], "version": created["version"]},
        )
    )
    assert changed["included_keys"] == ["u2", "u3"]
    assert changed["excluded_keys"] == ["u2"]
    got = await ok(await tenant.call("GET", f"{segments(tenant)}/vips"))
    assert (got["included_count"], got["excluded_count"]) == (2, 1)
    replaced = await ok(
        await tenant.call(
            "PUT", f"{segments(tenant)}/vips", {"version": got["version"], "included_keys": ["u9"]}
        )
    )
    assert replaced["version"] > got["version"]
    member = await list_memberships(
        tenant.stack.pool, environment_id=tenant.env, checks=[("vips", "u2"), ("vips", "u3")]
    )
    assert member == {("vips", "u2"): False, ("vips", "u3"): False}
    assert (await ok(await tenant.call("GET", path)))["included_keys"] == ["u9"]


async def test_rule_segment_update_and_sync_shapes(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", segments(tenant), BETA), 201)
    cond = {**BETA["condition"], "value": "enterprise"}
    updated = await ok(
        await tenant.call("PUT", f"{segments(tenant)}/beta", {"version": 1, "condition": cond})
    )
    assert updated["condition"]["value"] == "enterprise"
    assert updated["version"] == 2
    stale = await tenant.call("PUT", f"{segments(tenant)}/beta", {"version": 1, "name": "Beta"})
    assert stale.status_code == 409
    assert stale.json()["code"] == "ABORTED"
    rules, lists = await rule_and_list_segments(tenant.stack.pool, environment_id=tenant.env)
    assert [r.key for r in rules] == ["beta"]
    assert rules[0].version == 2
    assert lists == []


async def test_referenced_segment_cannot_be_deleted(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", segments(tenant), BETA), 201)
    rule = {"condition": in_segment("beta"), "serve": {"variant_key": "on"}}
    await ok(await tenant.call("POST", tenant.flags(), {**BOOL_FLAG, "rules": [rule]}), 201)
    refused = await tenant.call("DELETE", f"{segments(tenant)}/beta?version=1")
    assert refused.status_code == 409
    assert refused.json()["code"] == "FAILED_PRECONDITION"
    assert "flag:new-checkout" in refused.json()["error"]
    await ok(await tenant.call("PUT", f"{tenant.flags()}/new-checkout/rules", {"version": 1, "rules": []}))
    await ok(await tenant.call("DELETE", f"{segments(tenant)}/beta?version=1"))
    assert (await ok(await tenant.call("GET", segments(tenant))))["segments"] == []


async def test_rule_naming_a_missing_segment_is_refused(tenant: Tenant) -> None:
    rule = {"condition": in_segment("ghost"), "serve": {"variant_key": "on"}}
    refused = await tenant.call("POST", tenant.flags(), {**BOOL_FLAG, "rules": [rule]})
    assert refused.json()["code"] == "FAILED_PRECONDITION"
    assert "ghost" in refused.json()["error"]
