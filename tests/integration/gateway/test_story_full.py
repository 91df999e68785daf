"""The whole story through public HTTP only: bootstrap -> tenant -> flag, segment, experiment -> history."""

from __future__ import annotations

from typing import Any, cast

import httpx
import pytest

from commands.tenancy import ensure_system_org
from gateway.app import SYSTEM_ORG_COMMAND_ID, create_app
from tests.integration.gateway.flags_support import PASSWORD, email_rule, gateway_deps, ok
from tests.stack import Stack, stack  # noqa: F401

pytestmark = pytest.mark.integration


class Session:
    """One client acting with one bearer token."""

    def __init__(self, client: httpx.AsyncClient, token: str | None = None) -> None:
        self.client, self.token = client, token

    async def __call__(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        return await ok(await self.client.request(method, path, json=body, headers=headers), status)


async def _tenant_user(http: Session) -> tuple[Session, str, str]:
    """Bootstrap admin -> org -> org admin user -> that user's session; (session, user id, org id)."""
    await http("POST", "/v1/admin/seed-user", {"email": "root@example.com", "password": PASSWORD}, 201)
    root = Session(
        http.client,
        (await http("POST", "/v1/auth/login", {"email": "root@example.com", "password": PASSWORD}))["token"],
    )
    org = await root("POST", "/v1/admin/orgs", {"name": "Acme"}, 201)
    user_body = {"email": "ann@acme.test", "password": PASSWORD, "org_role": "org_admin"}
    user = await root("POST", f"/v1/admin/orgs/{org['org_id']}/users", user_body, 201)
    login = {"email": "ann@acme.test", "password": PASSWORD, "org_id": org["org_id"]}
    token = (await http("POST", "/v1/auth/login", login))["token"]
    return Session(http.client, token), user["user_id"], org["org_id"]


async def test_full_story(stack: Stack) -> None:  # noqa: F811
    deps = gateway_deps(stack)
    await ensure_system_org(store=stack.store, clock=deps.clock, command_id=SYSTEM_ORG_COMMAND_ID)
    transport = httpx.ASGITransport(app=cast(Any, create_app(deps, bootstrap=False)))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        ann, ann_id, _ = await _tenant_user(Session(client))
        project = await ann("POST", "/v1/management/projects", {"name": "Web"}, 201)
        envs = [
            await ann(
                "POST", f"/v1/management/projects/{project['project_id']}/environments", {"name": n}, 201
            )
            for n in ("production", "staging")
        ]
        env = envs[0]["environment_id"]
        key = await ann("POST", f"/v1/management/environments/{env}/sdk-keys", {"name": "server"}, 201)
        assert key["raw_key"].startswith("sdk_live_")
        base = f"/v1/environments/{env}"

        segment = {"key": "staff", "kind": "rule", "condition": email_rule("@acme.test")["condition"]}
        await ann("POST", f"{base}/segments", segment, 201)
        staff_rule = {
            "condition": {
                "kind": "leaf",
                "attribute": {"context_type": "user"},
                "op": "in_segment",
                "value": "staff",
            },
            "serve": {"variant_key": "on"},
        }
        flag_body = {
            "key": "checkout",
            "value_type": "bool",
            "enabled": True,
            "rules": [staff_rule],
            "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
        }
        flag = await ann("POST", f"{base}/flags", flag_body, 201)
        variant = {"key": "maybe", "value": True, "version": flag["version"]}
        flag = await ann("POST", f"{base}/flags/checkout/variants", variant, 201)
        early, early_rules = flag["position"], flag["rules"]
        assert [r["id"] for r in early_rules] == ["rule-1"]
        split = {
            "allocation": {
                "buckets": [
                    {"variant_key": "on", "weight_milli": 500},
                    {"variant_key": "off", "weight_milli": 500},
                ]
            }
        }
        later_rules = [email_rule("@beta.test"), {"condition": staff_rule["condition"], "serve": split}]
        flag = await ann(
            "PUT", f"{base}/flags/checkout/rules", {"version": flag["version"], "rules": later_rules}
        )
        assert len(flag["rules"]) == 2

        await ann("POST", f"{base}/event-definitions", {"key": "purchase", "value_type": "double"}, 201)
        experiment = await ann(
            "POST",
            f"{base}/experiments",
            {
                "name": "Checkout",
                "flag_key": "checkout",
                "variant_keys": ["off", "on"],
                "metric_keys": ["purchase"],
            },
            201,
        )
        for status in ("ACTIVE", "PAUSED", "ACTIVE", "CONCLUDED"):
            experiment = await ann(
                "POST",
                f"{base}/experiments/{experiment['id']}/transition",
                {"new_status": status, "version": experiment["version"]},
            )
        iterations = await ann("GET", f"{base}/experiments/{experiment['id']}/iterations")
        assert len(iterations["iterations"]) == 2

        audit = await ann("GET", f"{base}/audit?limit=500")
        types = [e["type"] for e in reversed(audit["entries"])]
        for expected in (
            "environment.created",
            "environment.sdk_key_issued",
            "segment.created",
            "flag.created",
            "flag_config.created",
            "flag.variant_added",
            "flag_config.rules_replaced",
            "event_definition.created",
            "experiment.created",
            "experiment.status_changed",
            "experiment.iteration_started",
            "experiment.iteration_ended",
        ):
            assert expected in types
        assert {e["actor"] for e in audit["entries"]} == {ann_id}
        issued = next(e for e in audit["entries"] if e["type"] == "environment.sdk_key_issued")
        hashed = [c for c in issued["changes"] if c["path"].endswith("key_hash")]
        assert hashed
        assert all(c["after"] == "[redacted]" for c in hashed)
        assert key["raw_key"] not in str(audit)
        replaced = next(e for e in audit["entries"] if e["type"] == "flag_config.rules_replaced")
        assert any(c["path"].startswith("config.rules") for c in replaced["changes"])

        as_of = await ann("GET", f"{base}/flags/checkout/as-of?position={early}")
        assert as_of["rules"] == early_rules
        reverted = await ann(
            "POST", f"{base}/flags/checkout/revert", {"position": early, "version": flag["version"]}
        )
        assert reverted["rules"] == as_of["rules"]
        assert reverted["version"] == flag["version"] + 1
        current = await ann("GET", f"{base}/flags/checkout")
        assert current["rules"] == as_of["rules"]
        assert [v["key"] for v in current["variants"]] == [
            "off",
            "on",
            "maybe",
        ]
        history = await ann("GET", f"{base}/flags/checkout/audit")
        assert [e["type"] for e in history["entries"][:1]] == ["flag_config.rules_replaced"]
