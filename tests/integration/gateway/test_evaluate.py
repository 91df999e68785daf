"""SDK routes (x-sdk-key) over the real stack: evaluate, evaluate-all, list checks, exposures."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from gateway.app import create_app
from gateway.evaluate import EXPOSURES_STATE, install_definitions
from readmodels.definitions import DefinitionsCache, EventLogReader
from schemas.ingest import ExposureMsg
from tests import stack as stack_fixtures
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Clock, Tenant, assert_envelope, gateway_deps, http_client
from tests.integration.sync_broadcaster.support import Admin, plan_rule
from tests.stack import Stack

pytestmark = pytest.mark.integration
stack, api_fixture = stack_fixtures.stack, support.api_fixture  # fixtures (`stack`, `api`)


class RecordingSink:
    """An ExposureSink that keeps what it is given."""

    def __init__(self) -> None:
        self.exposures: list[ExposureMsg] = []
        self.arrived = asyncio.Event()

    async def record(self, exposure: ExposureMsg) -> None:
        self.exposures.append(exposure)
        self.arrived.set()


async def sdk_call(api: Api, tenant: Tenant, route: str, body: Any, position: int = 0) -> httpx.Response:
    """POST an SDK route with the tenant's key (and the position of the caller's last write)."""
    headers = {"x-sdk-key": tenant.sdk_key, "x-stitchd-min-position": str(position)}
    path = f"/v1/environments/{tenant.environment_id}/{route}"
    return await api.call("POST", path, json=body, headers=headers)


async def test_evaluate_answers_the_seed_fields_with_reason_and_sequence(api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    position = await admin.rules(plan_rule("pro"))
    body = {
        "flag_key": "checkout",
        "context_type": "user",
        "context_key": "u1",
        "attributes": {"plan": "pro"},
    }
    pro = (await sdk_call(api, tenant, "evaluate", body, position)).json()
    assert pro == {
        "flag_key": "checkout", "variant_key": "on", "is_enabled": True, "value": True,
        "reason": "TARGETING_MATCH", "rule_id": "pro", "error_code": None, "sequence": position,
    }  # fmt: skip
    free = (await sdk_call(api, tenant, "evaluate", {**body, "attributes": {"plan": "free"}})).json()
    assert (free["variant_key"], free["value"], free["reason"], free["rule_id"]) == (
        "off",
        False,
        "DEFAULT",
        None,
    )


async def test_a_change_is_visible_to_the_next_evaluation_that_names_its_position(api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    position = await admin.toggle(False)
    body = {"flag_key": "checkout", "context_key": "u1"}
    answer = (await sdk_call(api, tenant, "evaluate", body, position)).json()
    assert (answer["is_enabled"], answer["reason"], answer["variant_key"], answer["sequence"]) == (
        False, "DISABLED", "off", position,
    )  # fmt: skip


async def test_multi_context_evaluation_and_unknown_flags(api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    org_rule = {
        "id": "big-org",
        "condition": {
            "kind": "leaf",
            "attribute": {"context_type": "org", "name": "seats"},
            "op": "gt",
            "value": 100,
        },
        "serve": {"variant_key": "on"},
    }
    await admin.create_flag()
    position = await admin.rules(org_rule)
    contexts = [
        {"context_key": "u1"},
        {"context_type": "org", "context_key": "acme", "attributes": {"seats": 500}},
    ]
    multi = (
        await sdk_call(api, tenant, "evaluate", {"flag_key": "checkout", "contexts": contexts}, position)
    ).json()
    assert (multi["variant_key"], multi["rule_id"]) == ("on", "big-org")
    missing = (await sdk_call(api, tenant, "evaluate", {"flag_key": "nope", "context_key": "u1"})).json()
    assert (missing["reason"], missing["error_code"], missing["value"], missing["is_enabled"]) == (
        "ERROR", "FLAG_NOT_FOUND", None, False,
    )  # fmt: skip


async def test_evaluate_all_gives_every_flag_with_reasons(api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    position = await admin.create_flag({**_flag("banner"), "enabled": False})
    answer = (await sdk_call(api, tenant, "evaluate-all", {"context_key": "u1"}, position)).json()
    assert [(f["flag_key"], f["reason"], f["variant_key"]) for f in answer["flags"]] == [
        ("banner", "DISABLED", "off"), ("checkout", "DEFAULT", "off"),
    ]  # fmt: skip
    assert answer["sequence"] == position


def _flag(key: str) -> dict[str, Any]:
    from tests.integration.sync_broadcaster.support import BOOL_FLAG

    return {**BOOL_FLAG, "key": key}


async def test_list_checks_answer_membership_from_memory(api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    position = await admin.segment({"key": "beta", "kind": "list", "included_keys": ["ann", "bob"]})
    check = {"segment_key": "beta", "context_type": "user", "context_key": "ann"}
    assert (await sdk_call(api, tenant, "segments/list-check", check, position)).json() == {"is_member": True}
    other = await sdk_call(api, tenant, "segments/list-check", {**check, "context_key": "zed"})
    assert other.json() == {"is_member": False}
    assert_envelope(await sdk_call(api, tenant, "segments/list-check", {**check, "segment_key": "x"}), 404)
    checks = [check, {**check, "context_key": "zed"}, {**check, "segment_key": "x"}]
    batch = (await sdk_call(api, tenant, "segments/batch-list-check", {"checks": checks})).json()
    assert [(r["is_member"], r["found"]) for r in batch["results"]] == [
        (True, True),
        (False, True),
        (False, False),
    ]


async def test_sdk_routes_need_the_environments_own_key(api: Api) -> None:
    tenant, other = await api.tenant("Acme"), await api.tenant("Globex")
    path = f"/v1/environments/{tenant.environment_id}/evaluate"
    body = {"flag_key": "checkout", "context_key": "u1"}
    assert_envelope(await api.call("POST", path, json=body), 401, "UNAUTHENTICATED")
    unknown = await api.call("POST", path, json=body, headers={"x-sdk-key": "sdk_live_nope"})
    assert_envelope(unknown, 401, "UNAUTHENTICATED")
    foreign = await api.call("POST", path, json=body, headers={"x-sdk-key": other.sdk_key})
    assert_envelope(foreign, 404, "NOT_FOUND")
    assert_envelope(
        await sdk_call(api, tenant, "evaluate", {"flag_key": "checkout"}), 400, "INVALID_ARGUMENT"
    )


async def test_server_side_evaluations_emit_exposures_without_private_data(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    position = await Admin(api, tenant).create_flag()
    sink = RecordingSink()
    app = create_app(gateway_deps(stack, Clock()), bootstrap=False)
    app.state[EXPOSURES_STATE] = sink
    body = {
        "flag_key": "checkout",
        "context_key": "u1",
        "attributes": {"email": "a@b.c"},
        "private_attributes": ["email"],
    }
    headers = {"x-sdk-key": tenant.sdk_key, "x-stitchd-min-position": str(position)}
    async with http_client(app) as client:
        response = await client.post(
            f"/v1/environments/{tenant.environment_id}/evaluate", json=body, headers=headers
        )
        await asyncio.wait_for(sink.arrived.wait(), 10)
    answer = response.json()
    [exposure] = sink.exposures
    assert (exposure.flag_key, exposure.variant_key, exposure.context_key, exposure.sequence) == (
        "checkout", answer["variant_key"], "u1", answer["sequence"],
    )  # fmt: skip
    assert exposure.environment_id == str(tenant.environment_id)
    assert "a@b.c" not in repr(exposure)


class Untouchable:
    """An event store that fails the test if anything reads or writes it."""

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the event store was used")

    async def load(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the event store was used")

    async def read_all(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the event store was used")

    async def read_environment(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the event store was used")

    async def head_position(self) -> int:
        raise AssertionError("the event store was used")


async def test_evaluations_and_list_checks_need_no_database(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    await admin.segment({"key": "beta", "kind": "list", "included_keys": ["ann"]})
    cache = DefinitionsCache()
    await cache.catch_up(stack.store)
    never_opened: AsyncConnectionPool[Any] = AsyncConnectionPool(stack.pg_url, open=False)
    untouchable = cast(EventLogReader, Untouchable())
    deps = replace(gateway_deps(stack, Clock()), event_log=untouchable, db=never_opened)
    app = create_app(deps, bootstrap=False)
    install_definitions(app, cache)
    base = f"/v1/environments/{tenant.environment_id}"
    headers = {"x-sdk-key": tenant.sdk_key}
    async with http_client(app) as client:
        for i in range(20):
            body = {"flag_key": "checkout", "context_key": f"u{i}"}
            assert (await client.post(f"{base}/evaluate", json=body, headers=headers)).json()[
                "variant_key"
            ] == "off"
        check = {"segment_key": "beta", "context_key": "ann"}
        assert (await client.post(f"{base}/segments/list-check", json=check, headers=headers)).json() == {
            "is_member": True
        }


async def test_a_list_over_the_member_budget_is_answered_from_the_read_model(api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.segment({"key": "big", "kind": "list", "included_keys": ["ann"]})
    members = f"/v1/environments/{tenant.environment_id}/segments/big/members"
    segment = await api.ok("GET", members.removesuffix("/members"), token=tenant.token)
    body = {"add": ["bob", "dee"], "add_excluded": ["cy"], "version": segment["version"]}
    position = (await api.ok("POST", members, token=tenant.token, json=body))["position"]
    cache = DefinitionsCache(member_budget=3)  # "big" holds 4 keys: it is answered from rm_segment_members
    app = create_app(api.deps, bootstrap=False)
    install_definitions(app, cache)
    async with http_client(app) as client:
        tiny = Api(client=client, deps=api.deps, clock=api.clock)

        async def batch(at: int) -> list[tuple[bool, bool]]:
            checks = [{"segment_key": "big", "context_key": k} for k in ("ann", "cy", "zed")]
            checks.append({"segment_key": "nope", "context_key": "ann"})
            answer = (
                await sdk_call(tiny, tenant, "segments/batch-list-check", {"checks": checks}, at)
            ).json()
            return [(r["is_member"], r["found"]) for r in answer["results"]]

        check = {"segment_key": "big", "context_type": "user", "context_key": "bob"}
        assert (await sdk_call(tiny, tenant, "segments/list-check", check, position)).json() == {
            "is_member": True
        }
        env = cache.environment(tenant.environment_id)
        assert env is not None
        assert ("big" in env.large, "big" in env.members) == (True, False)
        assert await batch(position) == [(True, True), (False, True), (False, True), (False, False)]
        team = await sdk_call(
            tiny, tenant, "segments/list-check", {**check, "context_type": "team"}, position
        )
        assert team.json() == {"is_member": False}
        segment = await api.ok("GET", members.removesuffix("/members"), token=tenant.token)
        change = {"remove": ["ann"], "add": ["zed"], "version": segment["version"]}
        position = (await api.ok("POST", members, token=tenant.token, json=change))["position"]
        assert await batch(position) == [(False, True), (False, True), (True, True), (False, False)]
        gone = await sdk_call(tiny, tenant, "segments/list-check", {**check, "segment_key": "nope"}, position)
        assert_envelope(gone, 404, "NOT_FOUND")
