"""Event definitions and experiments end to end: transitions, iterations, results and recompute jobs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.gateway.flags_support import BOOL_FLAG, Tenant, ok, tenant_fixture  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


def env_path(t: Tenant, rest: str) -> str:
    return f"/v1/environments/{t.env}/{rest}"


async def _experiment(t: Tenant) -> dict[str, Any]:
    await ok(await t.call("POST", t.flags(), BOOL_FLAG), 201)
    await ok(
        await t.call("POST", env_path(t, "event-definitions"), {"key": "purchase", "value_type": "double"}),
        201,
    )
    body = {
        "name": "Checkout test",
        "flag_key": "new-checkout",
        "variant_keys": ["off", "on"],
        "metric_keys": ["purchase"],
    }
    return await ok(await t.call("POST", env_path(t, "experiments"), body), 201)  # type: ignore[no-any-return]


async def test_event_definition_lifecycle(tenant: Tenant) -> None:
    path = env_path(tenant, "event-definitions")
    body = {"key": "signup", "value_type": "bool"}
    created = await ok(await tenant.call("POST", path, body, **{"Idempotency-Key": "e1"}), 201)
    repeat = await ok(await tenant.call("POST", path, body, **{"Idempotency-Key": "e1"}), 201)
    assert repeat["position"] == created["position"]
    assert created["version"] == 1
    assert created["value_type"] == "bool"
    updated = await ok(
        await tenant.call("PUT", f"{path}/signup", {"version": 1, "description": "first visit"})
    )
    assert updated["description"] == "first visit"
    assert updated["version"] == 2
    retyped = await tenant.call("PUT", f"{path}/signup", {"version": 2, "value_type": "int"})
    assert retyped.status_code in (400, 409)
    assert retyped.json()["code"] == "FAILED_PRECONDITION"
    listed = await ok(await tenant.call("GET", path))
    assert [d["key"] for d in listed["event_definitions"]] == ["signup"]
    await ok(await tenant.call("DELETE", f"{path}/signup?version=2"))
    gone = await tenant.call("GET", f"{path}/signup")
    assert gone.status_code == 404


async def test_transitions_start_and_end_iterations(tenant: Tenant) -> None:
    created = await _experiment(tenant)
    assert created["status"] == "DRAFT"
    assert created["control_variant"] == "off"
    base = env_path(tenant, f"experiments/{created['id']}")
    steps = ["ACTIVE", "PAUSED", "active", "EXPERIMENT_STATUS_CONCLUDED"]
    moved = created
    for step in steps:
        body = {"new_status": step, "reason": "test", "version": moved["version"]}
        moved = await ok(await tenant.call("POST", f"{base}/transition", body))
    assert moved["status"] == "CONCLUDED"
    iterations = (await ok(await tenant.call("GET", f"{base}/iterations")))["iterations"]
    assert [i["iteration_number"] for i in iterations] == [1, 2]
    assert all(i["ended_at_ms"] >= i["started_at_ms"] > 0 for i in iterations)
    illegal = await tenant.call(
        "POST", f"{base}/transition", {"new_status": "ACTIVE", "version": moved["version"]}
    )
    assert illegal.status_code in (400, 409)
    assert illegal.json()["code"] == "FAILED_PRECONDITION"


async def test_measured_metric_cannot_be_deleted_while_running(tenant: Tenant) -> None:
    created = await _experiment(tenant)
    base = env_path(tenant, f"experiments/{created['id']}")
    await ok(
        await tenant.call(
            "POST", f"{base}/transition", {"new_status": "ACTIVE", "version": created["version"]}
        )
    )
    refused = await tenant.call("DELETE", env_path(tenant, "event-definitions/purchase?version=1"))
    assert refused.status_code in (400, 409)
    assert refused.json()["code"] == "FAILED_PRECONDITION"


async def test_results_are_pending_until_computed_and_jobs_queue(tenant: Tenant) -> None:
    created = await _experiment(tenant)
    base = env_path(tenant, f"experiments/{created['id']}")
    pending = await ok(await tenant.call("GET", f"{base}/results"))
    assert pending["computation_status"] == "pending"
    assert pending["variant_results"] == []
    job = await ok(await tenant.call("POST", f"{base}/recompute", None, **{"Idempotency-Key": "r1"}), 202)
    again = await ok(await tenant.call("POST", f"{base}/recompute", None, **{"Idempotency-Key": "r1"}), 202)
    assert job["status"] == "pending"
    assert again["job_id"] == job["job_id"]
    assert job["created_at_ms"] > 0
    async with tenant.stack.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO rm_experiment_results (experiment_id, iteration_number, environment_id,"
            " computation_status, variant_results, computed_at)"
            " VALUES (%s, 1, %s, 'succeeded', %s::jsonb, now())",
            (
                created["id"],
                tenant.env,
                '[{"variant_key": "on", "participant_count": 7, "metric_values":'
                ' {"purchase": 1.5}, "p_value": 0.04, "p_value_present": true}]',
            ),
        )
        await conn.execute(
            "UPDATE stats_jobs SET status = 'running', started_at = now() WHERE id = %s", (job["job_id"],)
        )
    done = await ok(await tenant.call("GET", f"{base}/results"))
    assert done["computation_status"] == "succeeded"
    assert done["variant_results"][0]["participant_count"] == 7
    polled = await ok(await tenant.call("GET", env_path(tenant, f"stats-jobs/{job['job_id']}")))
    assert polled["status"] == "running"
    assert polled["started_at_ms"] > 0


async def test_experiment_on_unknown_flag_or_metric_is_refused(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    body = {"name": "X", "flag_key": "nope", "variant_keys": ["off", "on"]}
    missing_flag = await tenant.call("POST", env_path(tenant, "experiments"), body)
    assert missing_flag.status_code == 404
    body = {"name": "X", "flag_key": "new-checkout", "variant_keys": ["off", "on"], "metric_keys": ["nope"]}
    missing_metric = await tenant.call("POST", env_path(tenant, "experiments"), body)
    assert missing_metric.json()["code"] == "FAILED_PRECONDITION"


async def test_update_get_list_and_delete_follow_the_status_rules(tenant: Tenant) -> None:
    created = await _experiment(tenant)
    base = env_path(tenant, f"experiments/{created['id']}")
    renamed = await ok(
        await tenant.call("PUT", base, {"version": 1, "name": "Renamed", "traffic_allocation": 0.5})
    )
    assert renamed["name"] == "Renamed"
    assert renamed["traffic_allocation"] == 0.5
    assert renamed["version"] == 2
    stale = await tenant.call("PUT", base, {"version": 1, "name": "Again"})
    assert stale.status_code == 409
    assert stale.json()["code"] == "ABORTED"
    active = await ok(await tenant.call("POST", f"{base}/transition", {"new_status": "ACTIVE", "version": 2}))
    frozen = await tenant.call("PUT", base, {"version": active["version"], "variant_keys": ["on", "off"]})
    assert frozen.json()["code"] == "FAILED_PRECONDITION"
    assert (await ok(await tenant.call("GET", base)))["status"] == "ACTIVE"
    listed = await ok(await tenant.call("GET", env_path(tenant, "experiments")))
    assert [e["id"] for e in listed["experiments"]] == [created["id"]]
    running = await tenant.call("DELETE", f"{base}?version={active['version']}")
    assert running.json()["code"] == "FAILED_PRECONDITION"
    body = {"new_status": "CONCLUDED", "version": active["version"]}
    concluded = await ok(await tenant.call("POST", f"{base}/transition", body))
    await ok(await tenant.call("DELETE", f"{base}?version={concluded['version']}"))
    assert (await tenant.call("GET", base)).status_code == 404


async def test_viewers_read_but_cannot_change_anything(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    viewer = await tenant.user_token("viewer@acme.test", "viewer")
    auth = {"authorization": f"Bearer {viewer}"}
    listed = await tenant.client.get(tenant.flags(), headers=auth)
    assert listed.status_code == 200
    for method, path, body in [
        ("PUT", f"{tenant.flags()}/new-checkout", {"version": 1, "enabled": True}),
        ("POST", f"{tenant.flags()}/new-checkout/toggle", {}),
        ("POST", env_path(tenant, "segments"), {"key": "s", "kind": "list"}),
        ("POST", env_path(tenant, "event-definitions"), {"key": "k", "value_type": "int"}),
    ]:
        refused = await tenant.client.request(method, path, json=body, headers=auth)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["code"] == "PERMISSION_DENIED"


async def test_an_id_of_another_kind_of_object_is_no_experiment(tenant: Tenant) -> None:
    # The environment's own id names an existing stream, but not an experiment's.
    for method in ("GET", "DELETE"):
        answer = await tenant.call(method, env_path(tenant, f"experiments/{tenant.env}?version=0"))
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "NOT_FOUND"
