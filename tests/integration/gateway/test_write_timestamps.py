"""Write answers carry the real created_at / updated_at: the same instants a following GET shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.integration.gateway.support import Api, api_fixture  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration

BOOL_FLAG: dict[str, Any] = {
    "key": "checkout",
    "value_type": "bool",
    "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
    "off_variant": "off",
    "fallthrough": {"variant_key": "off"},
}


def stamp(body: dict[str, Any], field: str = "created_at") -> datetime:
    """A timestamp the answer must carry, parsed so formatting cannot hide a difference."""
    value = body.get(field)
    assert value is not None, (field, body)
    return datetime.fromisoformat(value)


def only(items: list[dict[str, Any]], id_field: str, wanted: str) -> dict[str, Any]:
    (found,) = [i for i in items if i[id_field] == wanted]
    return found


async def test_created_org_project_environment_and_key_answer_with_their_creation_time(api: Api) -> None:
    root = await api.root()
    org = await api.ok("POST", "/v1/admin/orgs", token=root, json={"name": "Stamped"})
    orgs = (await api.ok("GET", "/v1/admin/orgs", token=root))["orgs"]
    assert stamp(org) == stamp(only(orgs, "org_id", org["org_id"]))
    tenant = await api.tenant()
    project = await api.ok("POST", "/v1/management/projects", token=tenant.token, json={"name": "Api"})
    projects = (await api.ok("GET", "/v1/management/projects", token=tenant.token))["projects"]
    assert stamp(project) == stamp(only(projects, "project_id", project["project_id"]))
    envs_path = f"/v1/management/projects/{project['project_id']}/environments"
    env = await api.ok("POST", envs_path, token=tenant.token, json={"name": "qa"})
    envs = (await api.ok("GET", envs_path, token=tenant.token))["environments"]
    assert stamp(env) == stamp(only(envs, "environment_id", env["environment_id"]))
    keys_path = f"/v1/management/environments/{env['environment_id']}/sdk-keys"
    key = await api.ok("POST", keys_path, token=tenant.token, json={"name": "server"})
    keys = (await api.ok("GET", keys_path, token=tenant.token))["sdk_keys"]
    assert stamp(key) == stamp(only(keys, "sdk_key_id", key["sdk_key_id"]))


async def test_created_flag_definition_and_segment_answer_with_the_times_a_get_shows(api: Api) -> None:
    tenant = await api.tenant()
    base = f"/v1/environments/{tenant.environment_id}"
    creates: list[tuple[str, dict[str, Any]]] = [
        ("flags", BOOL_FLAG),
        ("event-definitions", {"key": "purchase", "value_type": "bool"}),
        ("segments", {"key": "beta", "kind": "list", "included_keys": ["u1"]}),
    ]
    for resource, body in creates:
        created = await api.ok("POST", f"{base}/{resource}", token=tenant.token, json=body)
        read = await api.ok("GET", f"{base}/{resource}/{body['key']}", token=tenant.token)
        assert stamp(created) == stamp(read), resource
        assert stamp(created, "updated_at") == stamp(read, "updated_at") >= stamp(created), resource


async def test_an_update_answers_with_the_new_updated_at_and_the_old_created_at(api: Api) -> None:
    tenant = await api.tenant()
    flags = f"/v1/environments/{tenant.environment_id}/flags"
    created = await api.ok("POST", flags, token=tenant.token, json=BOOL_FLAG)
    api.clock.offset += timedelta(seconds=1)  # the update happens strictly later
    toggled = await api.ok("POST", f"{flags}/checkout/toggle", token=tenant.token, json={"version": 1})
    read = await api.ok("GET", f"{flags}/checkout", token=tenant.token)
    assert stamp(toggled) == stamp(created) == stamp(read)
    assert stamp(toggled, "updated_at") == stamp(read, "updated_at") > stamp(created, "updated_at")
