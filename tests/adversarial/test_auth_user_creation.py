"""Issue 9 low: creating a user reveals nothing about accounts of other organisations, and harms none."""

from __future__ import annotations

import pytest

from tests.integration.gateway.support import PASSWORD, Api, assert_envelope

pytestmark = pytest.mark.integration


async def test_an_address_taken_elsewhere_answers_like_a_new_one_and_only_invites(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    body = {"email": "real@people.test", "password": PASSWORD, "display_name": "Real Name"}
    await api.ok("POST", "/v1/management/users", token=a.token, json=body)
    fresh = await api.call(
        "POST", "/v1/management/users", token=b.token,
        json={"email": "fresh@people.test", "password": PASSWORD, "display_name": "Typed"},
    )  # fmt: skip
    taken = await api.call(
        "POST", "/v1/management/users", token=b.token,
        json={"email": "REAL@people.test", "password": PASSWORD, "display_name": "Typed"},
    )  # fmt: skip
    assert (taken.status_code, set(taken.json())) == (fresh.status_code, set(fresh.json())) == (
        201, {"user_id", "email", "display_name", "org_role", "position"},
    )  # fmt: skip
    assert taken.json()["display_name"] == "Typed"
    listed = await api.ok("GET", "/v1/management/users", token=b.token)
    names = {u["email"]: u["display_name"] for u in listed["users"]}
    assert names["real@people.test"] == "Typed"  # never the account's own name
    assert "Real Name" not in str(listed)
    # B's invitation neither moved the account into B nor took it out of A's admin's hands
    assert await _login_status(api, "real@people.test", PASSWORD) == 200
    path = f"/v1/management/users/{taken.json()['user_id']}/password"
    await api.ok("PUT", path, token=a.token, json={"new_password": "reset by alpha"})
    body_b = {"email": "real@people.test", "password": "reset by alpha", "org_id": str(b.org_id)}
    assert (await api.call("POST", "/v1/auth/login", json=body_b)).status_code == 403


async def test_an_accepted_invitation_makes_the_account_a_member_of_both(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    await api.ok(
        "POST", "/v1/management/users", token=a.token, json={"email": "m@two.test", "password": PASSWORD}
    )
    invited = await api.ok(
        "POST", "/v1/management/users", token=b.token,
        json={"email": "m@two.test", "password": PASSWORD, "org_role": "viewer"},
    )  # fmt: skip
    token = (await api.login("m@two.test"))["access_token"]
    pending = await api.ok("GET", "/v1/auth/invitations", token=token)
    assert [(i["org_id"], i["role"]) for i in pending["invitations"]] == [(str(b.org_id), "viewer")]
    await api.ok("POST", f"/v1/auth/invitations/{b.org_id}/accept", token=token)
    assert (await api.ok("GET", "/v1/auth/invitations", token=token))["invitations"] == []
    session = await api.login("m@two.test", org_id=b.org_id)
    await api.ok("GET", "/v1/management/projects", token=session["access_token"])
    path = f"/v1/management/users/{invited['user_id']}/password"
    assert_envelope(await api.call("PUT", path, token=b.token, json={"new_password": "hostile reset"}), 403)
    again = await api.call(
        "POST", "/v1/management/users", token=b.token, json={"email": "m@two.test", "password": PASSWORD}
    )
    assert_envelope(again, 409, "ALREADY_EXISTS")  # a member of b: b's own member list says so anyway


async def test_an_invitation_can_be_declined_or_withdrawn(api: Api) -> None:
    a, b = await api.tenant("Alpha"), await api.tenant("Beta")
    await api.ok(
        "POST", "/v1/management/users", token=a.token, json={"email": "d@two.test", "password": PASSWORD}
    )
    invited = await api.ok(
        "POST", "/v1/management/users", token=b.token, json={"email": "d@two.test", "password": PASSWORD}
    )
    await api.ok("DELETE", f"/v1/management/users/{invited['user_id']}", token=b.token)  # withdrawn
    token = (await api.login("d@two.test"))["access_token"]
    assert (await api.ok("GET", "/v1/auth/invitations", token=token))["invitations"] == []
    await api.ok(
        "POST", "/v1/management/users", token=b.token, json={"email": "d@two.test", "password": PASSWORD}
    )
    await api.ok("DELETE", f"/v1/auth/invitations/{b.org_id}", token=token)  # declined
    assert_envelope(await api.call("POST", f"/v1/auth/invitations/{b.org_id}/accept", token=token), 404)
    assert await _login_status(api, "d@two.test", PASSWORD) == 200


async def _login_status(api: Api, email: str, password: str) -> int:
    return (await api.call("POST", "/v1/auth/login", json={"email": email, "password": password})).status_code
