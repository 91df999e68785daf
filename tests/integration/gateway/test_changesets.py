"""POST /v1/environments/{env}/changesets: several objects, one transaction, one audit entry."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.flags.flag_config import flag_config_stream
from domain.segments.segment import segment_stream
from tests.integration.gateway.flags_support import BOOL_FLAG, Tenant, ok, tenant_fixture  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration

BETA_RULE = {
    "condition": {"kind": "leaf", "attribute": {"context_type": "user"}, "op": "in_segment", "value": "beta"},
    "serve": {"variant_key": "on"},
}  # fmt: skip


def rollout(on_milli: int) -> dict[str, Any]:
    buckets = [
        {"variant_key": "on", "weight_milli": on_milli},
        {"variant_key": "off", "weight_milli": 1_000 - on_milli},
    ]
    return {"allocation": {"buckets": buckets}}


def beta_changeset() -> dict[str, Any]:
    """Create segment `beta`, add it to the flag's rules, raise the rollout to 20 %."""
    return {
        "operations": [
            {"op": "create_segment", "key": "beta", "kind": "list", "included_keys": ["u1"]},
            {"op": "add_rule", "flag": BOOL_FLAG["key"], "rule": BETA_RULE},
            {"op": "set_fallthrough", "flag": BOOL_FLAG["key"], "fallthrough": rollout(200)},
        ]
    }


async def _events_of(tenant: Tenant, changeset_id: str) -> int:
    return len(await tenant.stack.store.load_command(UUID(changeset_id)))


async def test_a_changeset_over_three_objects_lands_in_one_transaction_and_one_audit_entry(
    tenant: Tenant,
) -> None:
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    done = await ok(
        await tenant.call("POST", f"/v1/environments/{tenant.env}/changesets", beta_changeset()), 201
    )
    assert len(done["streams"]) == 2  # the segment and the flag's config here
    assert await _events_of(tenant, done["changeset_id"]) >= 3
    flag = await ok(await tenant.call("GET", f"{tenant.flags()}/{BOOL_FLAG['key']}"))
    assert flag["rules"][0]["condition"]["value"] == "beta"
    assert flag["fallthrough"]["allocation"]["buckets"][0]["weight_milli"] == 200
    audit = await ok(await tenant.call("GET", f"/v1/environments/{tenant.env}/audit"))
    newest = audit["changesets"][0]
    assert newest["changeset_id"] == done["changeset_id"]
    assert len(newest["entries"]) == await _events_of(tenant, done["changeset_id"])


async def test_a_refused_operation_appends_nothing_of_the_changeset(tenant: Tenant) -> None:
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    body = beta_changeset()
    body["operations"].append({"op": "set_enabled", "flag": "no-such-flag", "enabled": True})
    head = await tenant.stack.store.head_position()
    refused = await tenant.call("POST", f"/v1/environments/{tenant.env}/changesets", body)
    assert refused.status_code == 404, refused.text
    assert await tenant.stack.store.head_position() == head


async def test_a_failure_after_the_first_streams_rows_leaves_nothing_and_a_retry_applies_once(
    tenant: Tenant,
) -> None:
    """Fault injection: a trigger fails the insert of the changeset's second stream's rows."""
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    await ok(await tenant.call("POST", tenant.flags(), {**BOOL_FLAG, "key": "second"}), 201)
    body = beta_changeset()
    body["operations"].append({"op": "set_enabled", "flag": "second", "enabled": True})
    first_stream = segment_stream(tenant.env, "beta")  # appended first; the third stream's rows fail
    third = flag_config_stream(tenant.env, "second")
    async with await psycopg.AsyncConnection.connect(tenant.stack.pg_url, autocommit=True) as conn:
        await conn.execute(
            "CREATE FUNCTION fail_second() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " RAISE EXCEPTION 'injected failure'; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER fail_second BEFORE INSERT ON events FOR EACH ROW"
            f" WHEN (NEW.stream_id = '{third}') EXECUTE FUNCTION fail_second()"
        )
        head = await tenant.stack.store.head_position()
        failed = await tenant.call(
            "POST", f"/v1/environments/{tenant.env}/changesets", body, **{"Idempotency-Key": "cs-1"}
        )
        assert failed.status_code >= 500
        assert await tenant.stack.store.head_position() == head
        assert await tenant.stack.store.load(first_stream) == []
        await conn.execute("DROP TRIGGER fail_second ON events")
    retried = await ok(
        await tenant.call(
            "POST", f"/v1/environments/{tenant.env}/changesets", body, **{"Idempotency-Key": "cs-1"}
        ),
        201,
    )
    assert len(retried["streams"]) == 3
    again = await ok(
        await tenant.call(
            "POST", f"/v1/environments/{tenant.env}/changesets", body, **{"Idempotency-Key": "cs-1"}
        ),
        201,
    )
    assert again["repeated"]
    assert again["changeset_id"] == retried["changeset_id"]
    assert (
        await _events_of(tenant, retried["changeset_id"]) == 5
    )  # segment + members, rules + rollout, enabled


def _unversioned(doc: dict[str, Any]) -> dict[str, Any]:
    """A definitions document without stream versions, sequence and time (a revert adds new versions)."""
    return {k: [{f: v for f, v in o.items() if f != "version"} for o in doc[k]] for k in
            ("flags", "rule_segments", "list_segments")}  # fmt: skip


async def test_revert_restores_the_definitions_before_the_changeset(tenant: Tenant) -> None:
    base = f"/v1/environments/{tenant.env}"
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    before = await ok(await tenant.call("GET", f"{base}/definitions"))
    done = await ok(await tenant.call("POST", f"{base}/changesets", beta_changeset()), 201)
    during = await ok(await tenant.call("GET", f"{base}/definitions?as_of_sequence={done['position']}"))
    assert during["format"] == "stitchd.definitions"  # the document `stitchd export` writes
    assert during["segment_references"] == {BOOL_FLAG["key"]: ["beta"]}
    assert [s["key"] for s in during["list_segments"]] == ["beta"]
    undone = await ok(await tenant.call("POST", f"{base}/changesets/{done['changeset_id']}/revert"))
    after = await ok(await tenant.call("GET", f"{base}/definitions"))
    assert _unversioned(after) == _unversioned(before)
    old = await ok(await tenant.call("GET", f"{base}/definitions?as_of_sequence={before['sequence']}"))
    assert old == before
    again = await ok(await tenant.call("POST", f"{base}/changesets/{done['changeset_id']}/revert"))
    assert again["repeated"]
    assert again["changeset_id"] == undone["changeset_id"]
    changed = await ok(
        await tenant.call("GET", f"{base}/definitions/diff?from={before['sequence']}&to={done['position']}")
    )
    names = {o["object"] for o in changed["objects"]}
    assert names == {f"flag:{BOOL_FLAG['key']}", "segment:beta"}


async def test_revert_is_refused_when_a_later_change_touched_the_same_stream(tenant: Tenant) -> None:
    base = f"/v1/environments/{tenant.env}"
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    done = await ok(await tenant.call("POST", f"{base}/changesets", beta_changeset()), 201)
    flag = await ok(await tenant.call("GET", f"{tenant.flags()}/{BOOL_FLAG['key']}"))
    await ok(
        await tenant.call("POST", f"{tenant.flags()}/{BOOL_FLAG['key']}/toggle", {"version": flag["version"]})
    )
    head = await tenant.stack.store.head_position()
    refused = await tenant.call("POST", f"{base}/changesets/{done['changeset_id']}/revert")
    assert refused.status_code == 409, refused.text
    assert "flag_config" in refused.json()["error"]
    assert await tenant.stack.store.head_position() == head


async def test_another_tenants_changeset_cannot_be_reverted_or_read(tenant: Tenant) -> None:
    base = f"/v1/environments/{tenant.env}"
    await ok(await tenant.call("POST", tenant.flags(), BOOL_FLAG), 201)
    done = await ok(await tenant.call("POST", f"{base}/changesets", beta_changeset()), 201)
    staging = f"/v1/environments/{tenant.other_env}/changesets/{done['changeset_id']}/revert"
    assert (await tenant.call("POST", staging)).status_code == 404
