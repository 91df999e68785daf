"""History by replay: audit pages (filters, cursor), as-of reads, revert, and rebuild equality."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from projections import event_definitions, experiments, flags, segments
from projections.rebuild import rebuild
from tests.integration.gateway.flags_support import (  # noqa: F401
    BOOL_FLAG,
    Tenant,
    email_rule,
    ok,
    tenant_fixture,
)
from tests.integration.projections.conftest import snapshot
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


async def _edit_rules(t: Tenant, domains: list[str]) -> list[dict[str, Any]]:
    """Create the flag, then replace its rules once per domain; the flag after each step."""
    states = [await ok(await t.call("POST", t.flags(), BOOL_FLAG), 201)]
    for domain in domains:
        body = {"version": states[-1]["version"], "rules": [email_rule(domain)]}
        states.append(await ok(await t.call("PUT", f"{t.flags()}/new-checkout/rules", body)))
    return states


async def test_flag_audit_pages_newest_first_with_changes(tenant: Tenant) -> None:
    states = await _edit_rules(tenant, ["@a.test", "@b.test", "@c.test"])
    path = f"{tenant.flags()}/new-checkout/audit"
    first = await ok(await tenant.call("GET", f"{path}?limit=3"))
    second = await ok(await tenant.call("GET", f"{path}?limit=3&before_position={first['next_cursor']}"))
    entries = first["entries"] + second["entries"]
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions, reverse=True)
    assert len(entries) == 5
    assert second["next_cursor"] is None
    assert [e["type"] for e in entries] == [
        *["flag_config.rules_replaced"] * 3,
        "flag_config.created",
        "flag.created",
    ]
    assert entries[-1]["changes"][0]["path"] == ""
    assert entries[-1]["changes"][0]["before"] is None
    newest = entries[0]["changes"]
    assert {"path": "config.rules.0.condition.value", "before": "@b.test", "after": "@c.test"} in newest
    assert entries[0]["position"] == states[-1]["position"]


async def test_audit_filters_by_actor_and_time(tenant: Tenant) -> None:
    await _edit_rules(tenant, ["@a.test"])
    await asyncio.sleep(0.05)
    cut = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.05)
    await _edit_rules_again(tenant)
    audit = f"/v1/environments/{tenant.env}/audit"
    after = await ok(await tenant.call("GET", f"{audit}?since={quote(cut)}"))
    before = await ok(await tenant.call("GET", f"{audit}?until={quote(cut)}"))
    assert [e["type"] for e in after["entries"]] == ["flag_config.rules_replaced"]
    assert {e["type"] for e in before["entries"]} == {
        "environment.created",
        "flag.created",
        "flag_config.created",
        "flag_config.rules_replaced",
    }
    nobody = await ok(await tenant.call("GET", f"{audit}?actor=someone-else"))
    assert nobody["entries"] == []
    actor = after["entries"][0]["actor"]
    by_actor = await ok(await tenant.call("GET", f"{audit}?actor={actor}"))
    assert len(by_actor["entries"]) == len(before["entries"]) + 1


async def _edit_rules_again(t: Tenant) -> None:
    current = await ok(await t.call("GET", f"{t.flags()}/new-checkout"))
    body = {"version": current["version"], "rules": [email_rule("@late.test")]}
    await ok(await t.call("PUT", f"{t.flags()}/new-checkout/rules", body))


async def test_as_of_by_position_and_time_and_revert(tenant: Tenant) -> None:
    states = await _edit_rules(tenant, ["@a.test", "@b.test"])
    base = f"{tenant.flags()}/new-checkout"
    at_a = await ok(await tenant.call("GET", f"{base}/as-of?position={states[1]['position']}"))
    assert at_a["rules"] == states[1]["rules"]
    assert at_a["version"] == states[1]["version"]
    before_create = await tenant.call("GET", f"{base}/as-of?position={states[0]['position'] - 3}")
    assert before_create.status_code == 404
    now = quote(datetime.now(UTC).isoformat())
    assert (await ok(await tenant.call("GET", f"{base}/as-of?at={now}")))["rules"] == states[2]["rules"]
    both = await tenant.call("GET", f"{base}/as-of?position=1&at={now}")  # both are upper bounds
    assert both.status_code == 404
    target = {"position": states[0]["position"], "version": states[2]["version"]}
    reverted = await ok(await tenant.call("POST", f"{base}/revert", target))
    assert reverted["rules"] == []
    assert reverted["version"] == states[2]["version"] + 1
    audit = await ok(await tenant.call("GET", f"{base}/audit?limit=1"))
    assert audit["entries"][0]["type"] == "flag_config.rules_replaced"


async def test_segment_audit_and_as_of(tenant: Tenant) -> None:
    path = f"/v1/environments/{tenant.env}/segments"
    created = await ok(
        await tenant.call("POST", path, {"key": "vips", "kind": "list", "included_keys": ["u1"]}), 201
    )
    await ok(
        await tenant.call("POST", f"{path}/vips/members", {"add": ["u2"], "version": created["version"]})
    )
    audit = await ok(await tenant.call("GET", f"{path}/vips/audit"))
    assert [e["type"] for e in audit["entries"]] == [
        "segment.members_added",
        "segment.members_added",
        "segment.created",
    ]
    old = await ok(await tenant.call("GET", f"{path}/vips/as-of?position={created['position']}"))
    assert old["key"] == "vips"
    assert old["version"] == created["version"]


async def test_rebuilt_read_models_equal_the_live_ones(tenant: Tenant) -> None:
    await _edit_rules(tenant, ["@a.test"])
    seg_body = {"key": "vips", "kind": "list", "included_keys": ["u1", "u2"]}
    await ok(await tenant.call("POST", f"/v1/environments/{tenant.env}/segments", seg_body), 201)
    await ok(
        await tenant.call(
            "POST",
            f"{tenant.flags()}/new-checkout/variants",
            {
                "key": "x",
                "value": True,
                "version": (await ok(await tenant.call("GET", f"{tenant.flags()}/new-checkout")))["version"],
            },
        ),
        201,
    )
    await tenant.stack.settle()
    for projection in (flags, segments, event_definitions, experiments):
        live = await snapshot(tenant.stack.pg_url, projection.TABLES)
        await rebuild(tenant.stack.pg_url, projection)
        assert await snapshot(tenant.stack.pg_url, projection.TABLES) == live, projection.NAME


async def test_audit_of_an_object_that_never_existed_is_not_found_but_a_deleted_one_keeps_history(
    tenant: Tenant,
) -> None:
    for kind in ("flags", "segments"):
        missing = await tenant.call("GET", f"/v1/environments/{tenant.env}/{kind}/never-made/audit")
        assert missing.status_code == 404, missing.text
        assert missing.json()["code"] == "NOT_FOUND"
    created = await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    await ok(await tenant.call("DELETE", f"{tenant.flags()}/new-checkout?version={created['version']}"))
    history = await ok(await tenant.call("GET", f"{tenant.flags()}/new-checkout/audit"))
    types = [e["type"] for e in history["entries"]]
    assert {"flag.deleted", "flag_config.deleted"} <= set(types[:2])
    assert types[-1] == "flag.created"
