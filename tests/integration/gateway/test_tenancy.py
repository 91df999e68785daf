"""Projects, environments, SDK keys and users through HTTP: read-your-writes, roles, and the key rules."""

from __future__ import annotations

import pytest

from tests.integration.gateway.support import PASSWORD, Api, api_fixture, assert_envelope  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


async def test_created_objects_are_listed_immediately(api: Api) -> None:
    tenant = await api.tenant()
    projects = await api.ok("GET", "/v1/management/projects", token=tenant.token)
    assert [(p["project_id"], p["project_name"]) for p in projects["projects"]] == [
        (str(tenant.project_id), "Web")
    ]
    second = await api.ok(
        "POST",
        f"/v1/management/projects/{tenant.project_id}/environments",
        token=tenant.token,
        json={"name": "staging"},
    )
    envs = await api.ok(
        "GET", f"/v1/management/projects/{tenant.project_id}/environments", token=tenant.token
    )
    assert [e["environment_name"] for e in envs["environments"]] == ["production", "staging"]
    assert envs["environments"][1]["environment_id"] == second["environment_id"]


async def test_duplicate_project_names_are_refused(api: Api) -> None:
    tenant = await api.tenant()
    again = await api.call("POST", "/v1/management/projects", token=tenant.token, json={"name": "web"})
    assert_envelope(again, 409, "ALREADY_EXISTS")


async def test_sdk_key_is_shown_once_listed_by_prefix_and_never_the_last_revoked(api: Api) -> None:
    tenant = await api.tenant()
    keys_path = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
    assert tenant.sdk_key.startswith("sdk_live_")
    assert len(tenant.sdk_key) >= len("sdk_live_") + 43
    listed = await api.ok("GET", keys_path, token=tenant.token)
    (key,) = listed["sdk_keys"]
    assert set(key) - {"position"} == {
        "sdk_key_id",
        "environment_id",
        "name",
        "prefix",
        "status",
        "created_at",
        "revoked_at",
    }
    assert tenant.sdk_key.startswith(key["prefix"])
    assert key["status"] == "active"
    assert key["name"] == "server"
    assert tenant.sdk_key not in str(listed)
    last = await api.call("DELETE", f"{keys_path}/{tenant.sdk_key_id}", token=tenant.token)
    assert_envelope(last, 409, "FAILED_PRECONDITION")
    await api.ok("POST", keys_path, token=tenant.token, json={"name": "rotated"})
    revoked = await api.ok("DELETE", f"{keys_path}/{tenant.sdk_key_id}", token=tenant.token)
    assert revoked["status"] == "revoked"
    assert revoked["revoked_at"] is not None
    statuses = [
        (k["name"], k["status"]) for k in (await api.ok("GET", keys_path, token=tenant.token))["sdk_keys"]
    ]
    assert statuses == [("server", "revoked"), ("rotated", "active")]


async def test_roles_limit_what_members_and_viewers_may_do(api: Api) -> None:
    tenant = await api.tenant()
    for email, role in (("member@acme.test", "org_member"), ("viewer@acme.test", "viewer")):
        body = {"email": email, "password": PASSWORD, "org_role": role}
        await api.ok("POST", "/v1/management/users", token=tenant.token, json=body)
    member = (await api.login("member@acme.test"))["access_token"]
    viewer = (await api.login("viewer@acme.test"))["access_token"]
    for token in (member, viewer):
        await api.ok("GET", "/v1/management/projects", token=token)
        denied = await api.call("POST", "/v1/management/projects", token=token, json={"name": "Nope"})
        assert_envelope(denied, 403, "PERMISSION_DENIED")
        body = {"email": "x@acme.test", "password": PASSWORD}
        assert_envelope(await api.call("POST", "/v1/management/users", token=token, json=body), 403)
    users = await api.ok("GET", "/v1/management/users", token=viewer)
    assert sorted((u["email"], u["org_role"]) for u in users["users"]) == [
        (tenant.admin_email, "org_admin"),
        ("member@acme.test", "org_member"),
        ("viewer@acme.test", "viewer"),
    ]


async def test_an_email_already_in_the_organisation_is_refused(api: Api) -> None:
    tenant = await api.tenant()
    body = {"email": tenant.admin_email.upper(), "password": PASSWORD}
    assert_envelope(await api.call("POST", "/v1/management/users", token=tenant.token, json=body), 409)


async def test_weak_passwords_are_refused(api: Api) -> None:
    tenant = await api.tenant()
    body = {"email": "weak@acme.test", "password": "short"}
    response = await api.call("POST", "/v1/management/users", token=tenant.token, json=body)
    error = assert_envelope(response, 400, "INVALID_ARGUMENT")["error"]  # the schema states the rule
    assert "`password`" in error
    assert "length >= 8" in error


async def test_min_position_header_waits_for_a_write(api: Api) -> None:
    tenant = await api.tenant()
    head = await api.deps.event_log.head_position()
    response = await api.call(
        "GET", "/v1/management/projects", token=tenant.token, headers={"X-Stitchd-Min-Position": str(head)}
    )
    assert response.status_code == 200
    bad = await api.call(
        "GET", "/v1/management/projects", token=tenant.token, headers={"X-Stitchd-Min-Position": "soon"}
    )
    assert_envelope(bad, 400, "INVALID_ARGUMENT")


async def test_idempotency_key_makes_creates_repeat_safe(api: Api) -> None:
    tenant = await api.tenant()
    key = {"Idempotency-Key": "create-api-project-1"}
    first = await api.call(
        "POST", "/v1/management/projects", token=tenant.token, json={"name": "API"}, headers=key
    )
    again = await api.call(
        "POST", "/v1/management/projects", token=tenant.token, json={"name": "API"}, headers=key
    )
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["project_id"] == first.json()["project_id"]
    names = [
        p["project_name"]
        for p in (await api.ok("GET", "/v1/management/projects", token=tenant.token))["projects"]
    ]
    assert names == ["Web", "API"]
    body = {"email": "idem@acme.test", "password": PASSWORD}
    users = [
        await api.call(
            "POST", "/v1/management/users", token=tenant.token, json=body, headers={"Idempotency-Key": "u1"}
        )
        for _ in range(2)
    ]
    assert users[0].json()["user_id"] == users[1].json()["user_id"]
    too_long = {"Idempotency-Key": "k" * 300}
    refused = await api.call(
        "POST", "/v1/management/projects", token=tenant.token, json={"name": "X"}, headers=too_long
    )
    assert_envelope(refused, 400, "INVALID_ARGUMENT")


async def test_a_body_id_may_repeat_the_path_but_not_contradict_it(api: Api) -> None:
    t = await api.tenant()
    other = await api.ok("POST", "/v1/management/projects", token=t.token, json={"name": "Other"})
    envs = f"/v1/management/projects/{t.project_id}/environments"
    same = await api.call("POST", envs, token=t.token, json={"name": "qa", "project_id": str(t.project_id)})
    assert same.status_code == 201, same.text
    clash = await api.call(
        "POST", envs, token=t.token, json={"name": "qa2", "project_id": other["project_id"]}
    )
    assert_envelope(clash, 400, "INVALID_ARGUMENT")
    keys = f"/v1/management/environments/{t.environment_id}/sdk-keys"
    clash = await api.call(
        "POST", keys, token=t.token, json={"name": "k", "environment_id": str(same.json()["environment_id"])}
    )
    assert_envelope(clash, 400, "INVALID_ARGUMENT")
    listed = await api.ok("GET", envs, token=t.token)
    assert "qa2" not in [e.get("environment_name", e.get("name")) for e in listed["environments"]]
