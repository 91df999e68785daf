"""Evaluation cost is bounded when a definition is written (issue 9, items 5 and 6), through REST.

A regex the linear-time engine cannot run, or a flag / segment over its evaluation budget, answers 400
INVALID_ARGUMENT naming the limit and records nothing; a pattern that stalls a backtracking engine is
accepted and evaluates at once (a backtracking gateway would hit the suite's timeout instead).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from domain.conditions.budget import MAX_FLAG_LEAVES, MAX_SEGMENT_LEAVES
from gateway.app import create_app
from gateway.deps import GatewaySettings
from tests.integration.gateway.support import Api, Clock, Tenant, assert_envelope, gateway_deps, http_client
from tests.integration.sync_broadcaster.support import Admin
from tests.stack import Stack, stack

pytestmark = pytest.mark.integration
__all__ = ["stack"]  # fixtures

BOMB = "(?:a|.)" * 36 + "$"  # about 2^36 steps per search for a backtracking engine


@pytest.fixture(name="api")
async def api_fixture(stack: Stack) -> AsyncIterator[Api]:
    """The gateway with the production body cap (1 MiB): a 1,999-leaf rule fits, as it would in production."""
    clock = Clock()
    deps = replace(gateway_deps(stack, clock), settings=GatewaySettings(write_wait_seconds=20.0))
    async with http_client(create_app(deps)) as client:
        await stack.settle()
        yield Api(client=client, deps=deps, clock=clock)


def regex_leaf(pattern: str) -> dict[str, Any]:
    return {
        "kind": "leaf",
        "attribute": {"context_type": "user", "name": "ua"},
        "op": "matches",
        "value": pattern,
    }


def rule(condition: dict[str, Any], rule_id: str = "r1") -> dict[str, Any]:
    return {"id": rule_id, "condition": condition, "serve": {"variant_key": "on"}}


async def put_rules(api: Api, tenant: Tenant, *rules: dict[str, Any]) -> Any:
    flags = f"/v1/environments/{tenant.environment_id}/flags"
    current = await api.ok("GET", f"{flags}/checkout", token=tenant.token)
    body = {"version": current["version"], "rules": list(rules)}
    return await api.call("PUT", f"{flags}/checkout/rules", token=tenant.token, json=body)


async def test_a_rule_of_1999_regex_leaves_is_refused_naming_the_limit(api: Api) -> None:
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    wide = {"kind": "or", "children": [regex_leaf(f"^u{i}$") for i in range(1999)]}
    body = assert_envelope(await put_rules(api, tenant, rule(wide)), 400, "INVALID_ARGUMENT")
    assert f"at most {MAX_FLAG_LEAVES} condition leaves" in body["error"]
    flag = await api.ok("GET", f"/v1/environments/{tenant.environment_id}/flags/checkout", token=tenant.token)
    assert flag["rules"] == []  # nothing was written


async def test_budgets_sum_across_rules_and_count_regexes(api: Api) -> None:
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    many = [rule(regex_leaf(f"^u{i}$"), f"r{i}") for i in range(17)]
    body = assert_envelope(await put_rules(api, tenant, *many), 400, "INVALID_ARGUMENT")
    assert "regex (matches) leaves" in body["error"]
    assert (await put_rules(api, tenant, *many[:16])).status_code == 200


async def test_a_segment_over_its_budget_is_refused(api: Api) -> None:
    tenant = await api.tenant()
    leaves = [
        {"kind": "leaf", "attribute": {"context_type": "user"}, "op": "eq", "value": f"u{i}"}
        for i in range(MAX_SEGMENT_LEAVES + 1)
    ]
    body = {"key": "wide", "kind": "rule", "condition": {"kind": "or", "children": leaves}}
    path = f"/v1/environments/{tenant.environment_id}/segments"
    refused = assert_envelope(
        await api.call("POST", path, token=tenant.token, json=body), 400, "INVALID_ARGUMENT"
    )
    assert f"at most {MAX_SEGMENT_LEAVES} condition leaves" in refused["error"]
    assert (await api.call("GET", f"{path}/wide", token=tenant.token)).status_code == 404


@pytest.mark.parametrize(("pattern", "why"), [("(?=a)", "lookaround"), ("(a)\\1", "backreferences")])
async def test_patterns_the_engine_cannot_run_are_refused_at_write_time(
    api: Api, pattern: str, why: str
) -> None:
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    body = assert_envelope(await put_rules(api, tenant, rule(regex_leaf(pattern))), 400, "INVALID_ARGUMENT")
    assert why in body["error"]


@pytest.mark.timeout(60)
async def test_the_alternation_bomb_is_accepted_and_evaluates_at_once(api: Api) -> None:
    tenant = await api.tenant()
    await Admin(api, tenant).create_flag()
    written = await put_rules(api, tenant, rule(regex_leaf(BOMB)))
    assert written.status_code == 200, written.text
    headers = {"x-sdk-key": tenant.sdk_key, "x-stitchd-min-position": str(written.json()["position"])}
    path = f"/v1/environments/{tenant.environment_id}/evaluate"
    for ua, variant in (("a" * 255 + "!", "on"), ("a" * 35, "off")):
        body = {"flag_key": "checkout", "context_key": "u1", "attributes": {"ua": ua}}
        answer = (await api.call("POST", path, json=body, headers=headers)).json()
        assert answer["variant_key"] == variant, answer
