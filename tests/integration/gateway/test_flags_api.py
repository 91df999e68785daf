"""Flag routes end to end: HTTP -> handlers -> Postgres event store -> relay -> projector -> read models."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.gateway.flags_support import (  # noqa: F401
    BOOL_FLAG,
    Tenant,
    email_rule,
    ok,
    tenant_fixture,
)
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


async def test_created_flag_is_listed_and_read_back(tenant: Tenant) -> None:
    created = await ok(await tenant.call("POST", tenant.flags(), {**BOOL_FLAG, "enabled": True}), 201)
    assert created["version"] == 1
    assert created["enabled"] is True
    assert created["position"] > 0
    listed = await ok(await tenant.call("GET", tenant.flags()))
    assert [f["key"] for f in listed["flags"]] == ["new-checkout"]
    one = await ok(await tenant.call("GET", f"{tenant.flags()}/new-checkout"))
    assert one["variants"] == created["variants"]
    assert one["off_variant"] == "off"
    assert one["enabled"] is True


async def test_other_environment_sees_the_flag_disabled_at_version_zero(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", tenant.flags(), {**BOOL_FLAG, "enabled": True}), 201)
    other = await ok(await tenant.call("GET", f"{tenant.flags(tenant.other_env)}/new-checkout"))
    assert other["enabled"] is False
    assert other["version"] == 0
    assert other["fallthrough"] == {"variant_key": "off"}


async def test_idempotency_key_repeats_the_first_create(tenant: Tenant) -> None:
    first = await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG, **{"Idempotency-Key": "k1"}), 201)
    again = await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG, **{"Idempotency-Key": "k1"}), 201)
    assert again["position"] == first["position"]
    duplicate = await tenant.call("POST", tenant.flags(), BOOL_FLAG)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "ALREADY_EXISTS"


async def test_stale_version_is_aborted(tenant: Tenant) -> None:
    created = await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    path = f"{tenant.flags()}/new-checkout"
    await ok(await tenant.call("PUT", path, {"version": created["version"], "enabled": True}))
    stale = await tenant.call("PUT", path, {"version": created["version"], "enabled": False})
    assert stale.status_code == 409
    assert stale.json()["code"] == "ABORTED"


async def test_concurrent_updates_with_one_version_one_wins(tenant: Tenant) -> None:
    created = await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    path = f"{tenant.flags()}/new-checkout/rules"
    bodies = [{"version": created["version"], "rules": [email_rule(d)]} for d in ("@a.com", "@b.com")]
    answers = await asyncio.gather(*(tenant.call("PUT", path, b) for b in bodies))
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(b for a, b in zip(answers, bodies, strict=True) if a.status_code == 200)
    stored = await ok(await tenant.call("GET", f"{tenant.flags()}/new-checkout"))
    assert stored["rules"][0]["condition"]["value"] == winner["rules"][0]["condition"]["value"]
    assert stored["version"] == created["version"] + 1


async def test_variants_rules_hashing_toggle_and_archive(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    base = f"{tenant.flags()}/new-checkout"
    bad = await tenant.call("POST", f"{base}/variants", {"key": "maybe", "value": "x"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_ARGUMENT"
    ruled = await ok(
        await tenant.call("PUT", f"{base}/rules", {"version": 1, "rules": [email_rule("@acme.com")]})
    )
    assert ruled["rules"][0]["id"] == "rule-1"
    assert ruled["version"] == 2
    configs = [{"parameter_key": "org_id", "parameter_type": "user", "order": 0}]
    hashed = await ok(await tenant.call("PUT", f"{base}/hashing", {"version": 2, "configs": configs}))
    assert hashed["configs"] == configs
    assert hashed["version"] == 3
    toggled = await ok(await tenant.call("POST", f"{base}/toggle", {"version": hashed["version"]}))
    assert toggled["enabled"] is True
    archived = await ok(await tenant.call("POST", f"{base}/archive", {"version": toggled["version"]}))
    assert archived["archived"] is True
    frozen = await tenant.call(
        "POST", f"{base}/variants", {"key": "later", "value": True, "version": archived["version"]}
    )
    assert frozen.status_code in (400, 409)
    assert frozen.json()["code"] == "FAILED_PRECONDITION"
    restored = await ok(await tenant.call("POST", f"{base}/unarchive", {"version": archived["version"]}))
    assert restored["archived"] is False


async def test_unknown_field_and_unknown_flag(tenant: Tenant) -> None:
    bad = await tenant.call("POST", tenant.flags(), {**BOOL_FLAG, "colour": "red"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_ARGUMENT"
    missing = await tenant.call("GET", f"{tenant.flags()}/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


async def test_delete_frees_the_key(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    deleted = await ok(await tenant.call("DELETE", f"{tenant.flags()}/new-checkout?version=1"))
    assert deleted["deleted"] is True
    assert (await ok(await tenant.call("GET", tenant.flags())))["flags"] == []
    again = await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    assert again["rules"] == []


async def test_another_organisation_sees_nothing(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    stranger = {"authorization": f"Bearer {await tenant.other_org_token()}"}
    env = f"/v1/environments/{tenant.env}"
    for method, path, body in [
        ("GET", f"{env}/flags", None),
        ("GET", f"{env}/flags/new-checkout/audit", None),
        ("PUT", f"{env}/flags/new-checkout", {"version": 1, "enabled": True}),
        ("POST", f"{env}/segments", {"key": "s", "kind": "list"}),
        ("GET", f"{env}/audit", None),
        ("GET", f"{env}/experiments", None),
    ]:
        answer = await tenant.client.request(method, path, json=body, headers=stranger)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "NOT_FOUND"
