"""/v1/management/auth-providers, /v1/management/sso-settings and login discovery (issue 13 parts 1, 5)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from domain.tenancy.org import SYSTEM_ORG_ID
from tests.integration.gateway.module_stack import module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import PASSWORD, ROOT_EMAIL, Api, assert_envelope
from tests.integration.sso.oidc_idp import OidcIdp
from tests.integration.sso.support import (  # noqa: F401
    add_provider,
    idp_fixture,
    oidc_body,
    sso_api_fixture,
    sso_login,
)

pytestmark = pytest.mark.integration
BASE = "/v1/management/auth-providers"
SAML = {"idp_metadata_xml": "<EntityDescriptor/>", "sp_entity_id": "https://stitchd.test/sp"}


async def test_create_read_update_delete(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Crud")
    provider = await add_provider(sso_api, tenant, idp, group_roles={"admins": "org_admin"})
    assert provider["provider_type"] == "oidc"
    assert provider["org_id"] == str(tenant.org_id)
    assert provider["oidc"]["client_secret"] == ""
    assert provider["has_client_secret"] is True
    assert provider["created_at"] == provider["updated_at"]
    assert provider["version"] == 1
    listed = await sso_api.ok("GET", BASE, token=tenant.token)
    assert [p["id"] for p in listed["providers"]] == [provider["id"]]
    changed = await sso_api.ok(
        "PUT", f"{BASE}/{provider['id']}", token=tenant.token,
        json={"version": 1, "display_name": "Renamed", "oidc": {"issuer_url": idp.issuer, "client_id": "c2"}},
    )  # fmt: skip
    after = changed["provider"]
    assert after["display_name"] == "Renamed"
    assert after["oidc"]["client_id"] == "c2"
    assert after["has_client_secret"] is True, "an update without a secret keeps the stored one"
    assert after["group_roles"] == {"admins": "org_admin"}
    assert after["version"] == 2
    stale = await sso_api.call("PUT", f"{BASE}/{provider['id']}", token=tenant.token, json={"version": 1})
    assert_envelope(stale, 409, "ABORTED")
    gone = await sso_api.ok("DELETE", f"{BASE}/{provider['id']}?version=2", token=tenant.token)
    assert gone["provider_id"] == provider["id"]
    assert_envelope(await sso_api.call("GET", f"{BASE}/{provider['id']}", token=tenant.token), 404)
    audit = await sso_api.ok("GET", f"{BASE}/{provider['id']}/audit", token=tenant.token)
    assert [e["type"] for e in audit["entries"]] == [
        "auth_provider.deleted", "auth_provider.configured", "auth_provider.created",
    ]  # fmt: skip
    assert {e["actor"] for e in audit["entries"]} == {str((await _me(sso_api, tenant.token))["user_id"])}


async def _me(api: Api, token: str) -> dict[str, Any]:
    users = await api.ok("GET", "/v1/management/users", token=token)
    return dict(users["users"][0])


async def test_a_saml_provider_gets_its_acs_url(sso_api: Api) -> None:
    tenant = await sso_api.tenant("Saml")
    created = await sso_api.ok("POST", BASE, token=tenant.token, json={"display_name": "S", "saml": SAML})
    provider = created["provider"]
    assert provider["provider_type"] == "saml"
    assert provider["acs_url"].endswith(f"/v1/auth/saml/{provider['id']}/acs")
    change = {"version": 1, "oidc": {"issuer_url": "https://idp.example.com", "client_id": "x"}}
    assert_envelope(
        await sso_api.call("PUT", f"{BASE}/{provider['id']}", token=tenant.token, json=change), 400
    )


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "Neither"},
        {"display_name": "Both", "saml": SAML, "oidc": {"issuer_url": "https://i.example", "client_id": "c"}},
        {
            "display_name": "No openid",
            "oidc": {"issuer_url": "https://i.example", "client_id": "c", "scopes": ["email"]},
        },
        {"display_name": "Bad URL", "oidc": {"issuer_url": "ftp://i.example", "client_id": "c"}},
        {"display_name": "Creds", "oidc": {"issuer_url": "https://u:p@i.example", "client_id": "c"}},
        {"display_name": "Admin default", "default_role": "org_admin", "saml": SAML},
        {"display_name": "Two sources", "saml": {**SAML, "idp_metadata_url": "https://i.example/m"}},
        {"display_name": "Bad domain", "saml": SAML, "email_domains": ["not a domain"]},
    ],
)
async def test_malformed_providers_are_refused(sso_api: Api, body: dict[str, Any]) -> None:
    tenant = await sso_api.tenant("Bad")
    assert_envelope(await sso_api.call("POST", BASE, token=tenant.token, json=body), 400, "INVALID_ARGUMENT")
    assert (await sso_api.ok("GET", BASE, token=tenant.token))["providers"] == []


async def test_only_org_admins_manage_providers(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Roles")
    email = f"member-{uuid4().hex[:8]}@roles.test"
    await sso_api.ok("POST", "/v1/management/users", token=tenant.token,
                     json={"email": email, "password": PASSWORD, "org_role": "org_member"})  # fmt: skip
    member = (await sso_api.login(email))["access_token"]
    assert_envelope(await sso_api.call("GET", BASE, token=member), 403, "PERMISSION_DENIED")
    assert_envelope(await sso_api.call("POST", BASE, token=member, json=oidc_body(idp)), 403)
    root = await sso_api.root()
    assert_envelope(await sso_api.call("GET", BASE, token=root), 403)


async def test_another_organisations_providers_are_not_found(sso_api: Api, idp: OidcIdp) -> None:
    a, b = await sso_api.tenant("OrgA"), await sso_api.tenant("OrgB")
    provider = await add_provider(sso_api, a, idp)
    path = f"{BASE}/{provider['id']}"
    assert (await sso_api.ok("GET", BASE, token=b.token))["providers"] == []
    for method, url, body in [
        ("GET", path, None), ("GET", f"{path}/audit", None), ("PUT", path, {"version": 1, "enabled": False}),
        ("DELETE", f"{path}?version=1", None),
    ]:  # fmt: skip
        answer = await sso_api.call(method, url, token=b.token, json=body)
        assert_envelope(answer, 404, "NOT_FOUND")
        assert provider["id"] not in answer.text or "not found" in answer.text
    still = await sso_api.ok("GET", path, token=a.token)
    assert still["provider"]["enabled"] is True
    assert still["provider"]["version"] == 1


async def test_an_idempotent_create_repeats_and_its_key_is_bound_to_the_secret(
    sso_api: Api, idp: OidcIdp
) -> None:
    tenant = await sso_api.tenant("Idem")
    headers = {"Authorization": f"Bearer {tenant.token}", "Idempotency-Key": "create-1"}
    first = await sso_api.client.post(BASE, json=oidc_body(idp), headers=headers)
    again = await sso_api.client.post(BASE, json=oidc_body(idp), headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json()["provider"]["id"] == again.json()["provider"]["id"]
    other = oidc_body(idp)
    other["oidc"] = {**other["oidc"], "client_secret": "another secret"}
    assert (await sso_api.client.post(BASE, json=other, headers=headers)).status_code == 422


async def test_discovery_by_email_domain_says_nothing_about_accounts(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Discover")
    domain = f"d{uuid4().hex[:8]}.example"
    provider = await add_provider(sso_api, tenant, idp, email_domains=[domain])
    await sso_api.ok("POST", "/v1/management/users", token=tenant.token,
                     json={"email": f"known@{domain}", "password": PASSWORD})  # fmt: skip
    known = await sso_api.ok("GET", f"/v1/auth/providers?email=known@{domain}")
    unknown = await sso_api.ok("GET", f"/v1/auth/providers?email=nobody@{domain}")
    assert known == unknown
    assert known == {"providers": [{"id": provider["id"], "org_id": str(tenant.org_id),
                                    "provider_type": "oidc", "display_name": "Example IdP"}]}  # fmt: skip
    assert await sso_api.ok("GET", "/v1/auth/providers?email=x@elsewhere.example") == {"providers": []}
    by_org = await sso_api.ok("GET", f"/v1/auth/providers?org={tenant.org_id}")
    assert by_org == known
    assert await sso_api.ok("GET", f"/v1/auth/providers?org={uuid4()}") == {"providers": []}
    await sso_api.ok(
        "PUT", f"{BASE}/{provider['id']}", token=tenant.token, json={"version": 1, "enabled": False}
    )
    assert await sso_api.ok("GET", f"/v1/auth/providers?email=known@{domain}") == {"providers": []}
    assert_envelope(await sso_api.call("GET", "/v1/auth/providers"), 400)
    assert_envelope(
        await sso_api.call("GET", f"/v1/auth/providers?email=a@{domain}&org={tenant.org_id}"), 400
    )


async def test_require_sso_refuses_password_logins_of_members(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Strict")
    old_session = tenant.token
    no_way_in = await sso_api.call(
        "PUT", "/v1/management/sso-settings", token=tenant.token, json={"require_sso": True}
    )
    assert_envelope(no_way_in, 409, "FAILED_PRECONDITION")  # no enabled provider: nobody could log in
    provider = await add_provider(sso_api, tenant, idp)
    settings = await sso_api.ok(
        "PUT", "/v1/management/sso-settings", token=tenant.token, json={"require_sso": True}
    )
    assert settings["require_sso"] is True
    login = await sso_api.call(
        "POST", "/v1/auth/login", json={"email": tenant.admin_email, "password": PASSWORD}
    )
    assert_envelope(login, 403, "SSO_REQUIRED")
    assert_envelope(await sso_api.call("GET", BASE, token=old_session), 403, "SSO_REQUIRED")
    wrong = await sso_api.call(
        "POST", "/v1/auth/login", json={"email": tenant.admin_email, "password": "nope!"}
    )
    assert_envelope(wrong, 401, "UNAUTHENTICATED")  # the password is checked first: no oracle
    root = await sso_api.login(ROOT_EMAIL)  # system members are exempt (break-glass)
    assert root["org_id"] == str(SYSTEM_ORG_ID)
    assert provider["enabled"]


async def test_the_last_enabled_provider_stays_while_sso_is_required(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("LastOne")
    provider = await add_provider(sso_api, tenant, idp, group_roles={"admins": "org_admin"})
    await sso_api.ok("PUT", "/v1/management/sso-settings", token=tenant.token, json={"require_sso": True})
    idp.user.sub, idp.user.email = f"s-{uuid4().hex}", f"a-{uuid4().hex[:8]}@example.com"
    idp.user.groups = ["admins"]
    try:
        admin = (await sso_login(sso_api, provider["id"])).json()["access_token"]  # an SSO admin session
    finally:
        idp.user.groups = []
    path = f"{BASE}/{provider['id']}"
    disable = await sso_api.call("PUT", path, token=admin, json={"version": 1, "enabled": False})
    assert_envelope(disable, 409, "FAILED_PRECONDITION")
    assert_envelope(
        await sso_api.call("DELETE", f"{path}?version=1", token=admin), 409, "FAILED_PRECONDITION"
    )
    off = await sso_api.ok("PUT", "/v1/management/sso-settings", token=admin, json={"require_sso": False})
    assert off["require_sso"] is False
    assert (
        await sso_api.call("PUT", path, token=admin, json={"version": 1, "enabled": False})
    ).status_code == 200


async def test_an_sso_login_works_where_sso_is_required(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Required")
    provider = await add_provider(sso_api, tenant, idp)
    await sso_api.ok("PUT", "/v1/management/sso-settings", token=tenant.token, json={"require_sso": True})
    idp.user.sub, idp.user.email = f"s-{uuid4().hex}", f"r-{uuid4().hex[:8]}@example.com"
    response = await sso_login(sso_api, provider["id"])
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert (await sso_api.call("GET", "/v1/auth/orgs", token=token)).status_code == 200
    refreshed = await sso_api.call(
        "POST", "/v1/auth/refresh", json={"refresh_token": response.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text


async def test_the_system_organisation_cannot_require_sso(sso_api: Api) -> None:
    root = await sso_api.root()
    answer = await sso_api.call("PUT", "/v1/management/sso-settings", token=root, json={"require_sso": True})
    assert_envelope(answer, 403, "PERMISSION_DENIED")  # system tokens are not for /v1/management
