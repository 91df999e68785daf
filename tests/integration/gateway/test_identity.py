"""Login, refresh, org switch and listing, first-admin seeding, throttling and token death, through HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest

from tests.integration.gateway.support import PASSWORD, ROOT_EMAIL, Api, api_fixture, assert_envelope  # noqa: F401
from tests.stack import stack  # noqa: F401

pytestmark = pytest.mark.integration


async def test_first_admin_is_seeded_once_and_can_log_in(api: Api) -> None:
    seeded = await api.ok("POST", "/v1/admin/seed-user", json={"email": ROOT_EMAIL, "password": PASSWORD})
    assert seeded["email"] == ROOT_EMAIL
    assert seeded["org_role"] == "org_admin"
    assert seeded["position"] > 0
    again = await api.call(
        "POST", "/v1/admin/seed-user", json={"email": "other@x.test", "password": PASSWORD}
    )
    assert_envelope(again, 401, "UNAUTHENTICATED")
    login = await api.login(ROOT_EMAIL)
    assert set(login) >= {
        "token",
        "expires_at",
        "access_token",
        "refresh_token",
        "expires_in",
        "user_id",
        "org_id",
    }
    assert login["token"] == login["access_token"]
    assert login["expires_in"] == 24 * 3600
    orgs = await api.ok("GET", "/v1/admin/orgs", token=login["access_token"])
    assert [o["org_name"] for o in orgs["orgs"]] == ["System"]


async def test_system_admins_may_seed_more_admins(api: Api) -> None:
    root = await api.root()
    await api.ok(
        "POST", "/v1/admin/seed-user", token=root, json={"email": "second@x.test", "password": PASSWORD}
    )
    assert (await api.login("second@x.test"))["org_id"] == (await api.login(ROOT_EMAIL))["org_id"]


async def test_wrong_password_is_unauthenticated_and_then_throttled(api: Api) -> None:
    await api.root()
    for _ in range(5):
        wrong = await api.call("POST", "/v1/auth/login", json={"email": ROOT_EMAIL, "password": "nope-nope"})
        assert_envelope(wrong, 401, "UNAUTHENTICATED")
    throttled = await api.call("POST", "/v1/auth/login", json={"email": ROOT_EMAIL, "password": PASSWORD})
    assert_envelope(throttled, 429, "RESOURCE_EXHAUSTED")
    assert int(throttled.headers["retry-after"]) > 0


async def test_unknown_email_looks_like_a_wrong_password(api: Api) -> None:
    response = await api.call("POST", "/v1/auth/login", json={"email": "ghost@x.test", "password": PASSWORD})
    assert assert_envelope(response, 401)["error"] == "invalid email or password"


async def test_refresh_rotates_and_a_used_refresh_token_is_dead(api: Api) -> None:
    await api.root()
    first = await api.login(ROOT_EMAIL)
    second = await api.ok("POST", "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second["refresh_token"] != first["refresh_token"]
    await api.ok("GET", "/v1/admin/orgs", token=second["access_token"])
    reused = await api.call("POST", "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_envelope(reused, 401, "UNAUTHENTICATED")
    # reuse of a rotated token kills the whole family, including the newest one
    family = await api.call("POST", "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_envelope(family, 401)


async def test_expired_token_is_refused(api: Api) -> None:
    token = await api.root()
    api.clock.offset = timedelta(hours=24, seconds=1)
    assert_envelope(await api.call("GET", "/v1/auth/orgs", token=token), 401, "UNAUTHENTICATED")


async def test_password_change_kills_old_tokens(api: Api) -> None:
    tenant = await api.tenant()
    login = await api.login(tenant.admin_email)
    user_id = login["user_id"]
    body = {"current_password": PASSWORD, "new_password": "a brand new secret"}
    await api.ok("PUT", f"/v1/management/users/{user_id}/password", token=tenant.token, json=body)
    assert_envelope(await api.call("GET", "/v1/management/projects", token=tenant.token), 401)
    stale = await api.call("POST", "/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert_envelope(stale, 401)
    old = await api.call("POST", "/v1/auth/login", json={"email": tenant.admin_email, "password": PASSWORD})
    assert_envelope(old, 401)
    fresh = await api.login(tenant.admin_email, "a brand new secret")
    await api.ok("GET", "/v1/management/projects", token=fresh["access_token"])


async def test_own_password_change_needs_the_current_password(api: Api) -> None:
    tenant = await api.tenant()
    user_id = (await api.login(tenant.admin_email))["user_id"]
    body = {"current_password": "not it at all", "new_password": "a brand new secret"}
    response = await api.call(
        "PUT", f"/v1/management/users/{user_id}/password", token=tenant.token, json=body
    )
    assert_envelope(response, 403, "PERMISSION_DENIED")


async def test_removed_user_token_dies(api: Api) -> None:
    tenant = await api.tenant()
    member = await api.ok(
        "POST",
        "/v1/management/users",
        token=tenant.token,
        json={"email": "bob@acme.test", "password": PASSWORD, "org_role": "org_member"},
    )
    bob = (await api.login("bob@acme.test"))["access_token"]
    await api.ok("GET", "/v1/management/projects", token=bob)
    await api.ok("DELETE", f"/v1/management/users/{member['user_id']}", token=tenant.token)
    assert_envelope(await api.call("GET", "/v1/management/projects", token=bob), 401, "UNAUTHENTICATED")
    gone = await api.call("POST", "/v1/auth/login", json={"email": "bob@acme.test", "password": PASSWORD})
    assert_envelope(gone, 401)


async def test_org_listing_and_switch(api: Api) -> None:
    root = await api.root()
    created = [await api.ok("POST", "/v1/admin/orgs", token=root, json={"name": n}) for n in ("One", "Two")]
    assert (await api.ok("GET", "/v1/auth/orgs", token=root))["orgs"] == []  # the creator joins neither
    for org in created:
        await api.ok(
            "POST", f"/v1/admin/orgs/{org['org_id']}/users", token=root,
            json={"email": "both@x.test", "password": PASSWORD, "org_role": "org_admin"},
        )  # fmt: skip
    token = (await api.login("both@x.test"))["access_token"]
    invited = await api.ok("GET", "/v1/auth/invitations", token=token)
    assert [(i["org_name"], i["role"]) for i in invited["invitations"]] == [("Two", "org_admin")]
    await api.ok("POST", f"/v1/auth/invitations/{created[1]['org_id']}/accept", token=token)
    listed = await api.ok("GET", "/v1/auth/orgs", token=token)
    assert [(o["org_name"], o["role"]) for o in listed["orgs"]] == [
        ("One", "org_admin"),
        ("Two", "org_admin"),
    ]
    switched = await api.ok(
        "POST", "/v1/auth/switch-org", token=token, json={"target_org_id": created[1]["org_id"]}
    )
    assert switched["org_id"] == created[1]["org_id"]
    project = await api.ok(
        "POST", "/v1/management/projects", token=switched["access_token"], json={"name": "P"}
    )
    assert project["org_id"] == created[1]["org_id"]
    stranger = await api.call("POST", "/v1/auth/switch-org", token=root, json={"target_org_id": str(uuid4())})
    assert_envelope(stranger, 404, "NOT_FOUND")
    own = await api.call(
        "POST", "/v1/auth/switch-org", token=root, json={"target_org_id": created[0]["org_id"]}
    )
    assert_envelope(own, 404, "NOT_FOUND")


async def test_login_into_a_named_org_requires_membership(api: Api) -> None:
    await api.root()
    body = {"email": ROOT_EMAIL, "password": PASSWORD, "org_id": str(uuid4())}
    assert_envelope(await api.call("POST", "/v1/auth/login", json=body), 403)


async def test_system_tokens_do_not_reach_management_routes(api: Api) -> None:
    root = await api.root()
    response = await api.call("GET", "/v1/management/projects", token=root)
    assert_envelope(response, 403, "PERMISSION_DENIED")


async def test_racing_first_seeds_create_exactly_one_admin(api: Api) -> None:
    calls = [
        api.call("POST", "/v1/admin/seed-user", json={"email": f"r{i}@x.test", "password": PASSWORD})
        for i in range(4)
    ]
    statuses = sorted(r.status_code for r in await asyncio.gather(*calls))
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 401, 403}


async def test_cli_seeded_admin_can_log_in(api: Api) -> None:
    from stitchd.gateway_main import seed_user

    await seed_user(str(api.deps.db.conninfo), "cli@x.test", PASSWORD, None)
    await api.deps.settle(await api.deps.event_log.head_position())
    login = await api.login("cli@x.test")
    orgs = await api.ok("GET", "/v1/admin/orgs", token=login["access_token"])
    assert [o["org_name"] for o in orgs["orgs"]] == ["System"]


async def test_anyone_changes_their_own_password_at_auth_password(api: Api) -> None:
    root = await api.root()
    wrong = {"current_password": "not the password", "new_password": "another long secret"}
    assert_envelope(await api.call("PUT", "/v1/auth/password", token=root, json=wrong), 403)
    body = {"current_password": PASSWORD, "new_password": "another long secret"}
    assert (await api.ok("PUT", "/v1/auth/password", token=root, json=body))["position"] > 0
    assert_envelope(await api.call("GET", "/v1/admin/orgs", token=root), 401, "UNAUTHENTICATED")
    await api.login(ROOT_EMAIL, "another long secret")
