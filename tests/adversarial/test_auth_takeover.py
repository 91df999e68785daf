"""Issue 9 item 1: an org admin cannot take over an account that belongs to another organisation."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from commands.identity import set_membership
from domain.tenancy.commands import SetMembership
from domain.tenancy.events import OrgRole
from domain.tenancy.org import SYSTEM_ORG_ID
from tests.integration.gateway.support import PASSWORD, ROOT_EMAIL, Api, assert_envelope
from tests.stack import Stack

pytestmark = pytest.mark.integration

NEW_PASSWORD = "attacker chosen password"


async def _login_status(api: Api, email: str, password: str, org_id: UUID | None = None) -> int:
    body: dict[str, str] = {"email": email, "password": password}
    if org_id is not None:
        body["org_id"] = str(org_id)
    return (await api.call("POST", "/v1/auth/login", json=body)).status_code


async def _join(stack: Stack, api: Api, user_id: UUID, org_id: UUID, role: OrgRole) -> None:
    cmd = SetMembership(command_id=uuid4(), user_id=user_id, org_id=org_id, role=role)
    written = await set_membership(cmd, store=stack.store, clock=api.clock, actor="test")
    await api.deps.settle(written.position)


async def test_the_org_admin_of_a_new_org_cannot_reset_the_system_admins_password(api: Api) -> None:
    root = await api.root()
    root_id = UUID((await api.login(ROOT_EMAIL))["user_id"])
    tenant = await api.tenant("Evil")  # the system admin created the org, its own admin is a stranger
    listed = await api.ok("GET", "/v1/management/users", token=tenant.token)
    assert root_id not in {UUID(u["user_id"]) for u in listed["users"]}
    reset = await api.call(
        "PUT", f"/v1/management/users/{root_id}/password", token=tenant.token,
        json={"new_password": NEW_PASSWORD},
    )  # fmt: skip
    assert reset.status_code in (403, 404), reset.text
    assert_envelope(reset, reset.status_code)
    assert await _login_status(api, ROOT_EMAIL, NEW_PASSWORD, SYSTEM_ORG_ID) == 401
    assert await _login_status(api, ROOT_EMAIL, PASSWORD, SYSTEM_ORG_ID) == 200
    await api.ok("GET", "/v1/admin/orgs", token=root)


async def test_a_system_admin_who_is_also_a_tenant_member_stays_out_of_reach(api: Api, stack: Stack) -> None:
    """Even if the creator were a member (the old behaviour), the rule protects the account."""
    await api.root()
    root_id = UUID((await api.login(ROOT_EMAIL))["user_id"])
    tenant = await api.tenant("Evil")
    await _join(stack, api, root_id, tenant.org_id, OrgRole.ORG_ADMIN)
    reset = await api.call(
        "PUT", f"/v1/management/users/{root_id}/password", token=tenant.token,
        json={"new_password": NEW_PASSWORD},
    )  # fmt: skip
    assert_envelope(reset, 403, "PERMISSION_DENIED")
    assert await _login_status(api, ROOT_EMAIL, NEW_PASSWORD, SYSTEM_ORG_ID) == 401
    assert await _login_status(api, ROOT_EMAIL, PASSWORD, SYSTEM_ORG_ID) == 200


async def test_a_user_of_two_orgs_is_managed_only_by_an_admin_of_both(api: Api, stack: Stack) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    email = "shared@two.test"
    created = await api.ok(
        "POST", "/v1/management/users", token=a.token,
        json={"email": email, "password": PASSWORD, "org_role": "org_member"},
    )  # fmt: skip
    user_id = UUID(created["user_id"])
    await _join(stack, api, user_id, b.org_id, OrgRole.ORG_MEMBER)
    path = f"/v1/management/users/{user_id}/password"
    reset = await api.call("PUT", path, token=a.token, json={"new_password": NEW_PASSWORD})
    assert_envelope(reset, 403, "PERMISSION_DENIED")
    assert await _login_status(api, email, NEW_PASSWORD, b.org_id) == 401
    # A may still end the membership in A; the account and its access to B survive
    await api.ok("DELETE", f"/v1/management/users/{user_id}", token=a.token)
    assert await _login_status(api, email, PASSWORD, b.org_id) == 200
    # an admin of every organisation the user is in may reset it
    a_admin = UUID((await api.login(a.admin_email))["user_id"])
    await _join(stack, api, a_admin, b.org_id, OrgRole.ORG_ADMIN)
    back = await api.login(a.admin_email, org_id=b.org_id)
    await api.ok("PUT", path, token=back["access_token"], json={"new_password": NEW_PASSWORD})
    assert await _login_status(api, email, NEW_PASSWORD, b.org_id) == 200


async def test_an_org_admin_cannot_delete_the_account_of_a_two_org_user_through_removal(
    api: Api, stack: Stack
) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    user = await api.ok(
        "POST", "/v1/management/users", token=b.token,
        json={"email": "both@two.test", "password": PASSWORD, "org_role": "viewer"},
    )  # fmt: skip
    await _join(stack, api, UUID(user["user_id"]), a.org_id, OrgRole.VIEWER)
    await api.ok("DELETE", f"/v1/management/users/{user['user_id']}", token=a.token)
    session = await api.login("both@two.test", org_id=b.org_id)
    await api.ok("GET", "/v1/management/projects", token=session["access_token"])
