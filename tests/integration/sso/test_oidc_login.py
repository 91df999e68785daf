"""OpenID Connect login against a real provider (authlib's AuthorizationServer, RSA-signed ID tokens,
JWKS, PKCE) served in the test process: issue 13 part 2 and 4."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from tests.integration.gateway.module_stack import module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import PASSWORD, Api, assert_envelope
from tests.integration.sso.oidc_idp import IdpUser, OidcIdp
from tests.integration.sso.support import (  # noqa: F401
    add_provider,
    at_idp,
    authorize,
    callback,
    idp_fixture,
    sso_api_fixture,
    sso_login,
)

pytestmark = pytest.mark.integration


def _person(idp: OidcIdp, **overrides: object) -> IdpUser:
    tag = uuid4().hex[:8]
    user = IdpUser(sub=f"sub-{tag}", email=f"user-{tag}@example.com")
    for name, value in overrides.items():
        setattr(user, name, value)
    idp.user = user
    return user


@pytest.fixture(autouse=True)
def _fresh_idp(idp: OidcIdp) -> None:
    idp.audience, idp.expires_in, idp.tamper = None, 3600, False


async def test_first_login_provisions_the_user_with_the_default_role(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Sso")
    provider = await add_provider(sso_api, tenant, idp, default_role="viewer")
    person = _person(idp)
    response = await sso_login(sso_api, provider["id"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["org_id"] == str(tenant.org_id)
    orgs = await sso_api.ok("GET", "/v1/auth/orgs", token=tokens["access_token"])
    assert orgs == {"orgs": [{"org_id": str(tenant.org_id), "org_name": "Sso", "role": "viewer"}]}
    members = await sso_api.ok("GET", "/v1/management/users", token=tenant.token)
    assert person.email in {m["email"] for m in members["users"]}
    again = await sso_login(sso_api, provider["id"])  # the same subject: the same account
    assert again.status_code == 200
    assert again.json()["user_id"] == tokens["user_id"]
    refreshed = await sso_api.ok("POST", "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed["user_id"] == tokens["user_id"]


async def test_group_mapping_names_the_role(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Groups")
    provider = await add_provider(sso_api, tenant, idp, group_roles={"flag-admins": "org_admin"})
    _person(idp, groups=["staff", "flag-admins"])
    tokens = (await sso_login(sso_api, provider["id"])).json()
    orgs = await sso_api.ok("GET", "/v1/auth/orgs", token=tokens["access_token"])
    assert orgs["orgs"][0]["role"] == "org_admin"


async def test_a_wrong_state_is_refused(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("State")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    url, _ = await authorize(sso_api, provider["id"])
    code, _ = await at_idp(url)
    assert_envelope(await callback(sso_api, provider["id"], code, "forged-state"), 401, "UNAUTHENTICATED")
    assert idp.codes, "the code was never even presented to the IdP"


async def test_a_state_works_once(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Once")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    url, _ = await authorize(sso_api, provider["id"])
    code, state = await at_idp(url)
    assert (await callback(sso_api, provider["id"], code, state)).status_code == 200
    assert_envelope(await callback(sso_api, provider["id"], code, state), 401, "UNAUTHENTICATED")


async def test_a_replayed_code_is_refused_by_the_idp(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Replay")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    url, _ = await authorize(sso_api, provider["id"])
    _, second_state = await authorize(sso_api, provider["id"])
    code, state = await at_idp(url)
    assert (await callback(sso_api, provider["id"], code, state)).status_code == 200
    replay = await callback(sso_api, provider["id"], code, second_state)  # a live state, a used code
    assert_envelope(replay, 401, "UNAUTHENTICATED")
    assert idp.token_statuses[-1] == 400


async def test_an_unverified_email_is_refused(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Unverified")
    provider = await add_provider(sso_api, tenant, idp)
    person = _person(idp, email_verified=False)
    assert_envelope(await sso_login(sso_api, provider["id"]), 403, "PERMISSION_DENIED")
    members = await sso_api.ok("GET", "/v1/management/users", token=tenant.token)
    assert person.email not in {m["email"] for m in members["users"]}


async def test_an_existing_member_is_linked_only_on_a_verified_email(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Linking")
    provider = await add_provider(sso_api, tenant, idp)
    email = f"pw-{uuid4().hex[:8]}@example.com"
    created = await sso_api.ok(
        "POST", "/v1/management/users", token=tenant.token,
        json={"email": email, "password": PASSWORD, "org_role": "org_member"},
    )  # fmt: skip
    _person(idp, email=email, email_verified=False)
    assert_envelope(await sso_login(sso_api, provider["id"]), 403, "PERMISSION_DENIED")
    _person(idp, email=email)
    response = await sso_login(sso_api, provider["id"])
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == created["user_id"]


async def test_an_account_of_another_organisation_is_not_taken_over(sso_api: Api, idp: OidcIdp) -> None:
    victim = await sso_api.tenant("Victim")
    attacker = await sso_api.tenant("Attacker")
    provider = await add_provider(sso_api, attacker, idp, email_domains=[])
    _person(idp, email=victim.admin_email)  # the attacker's IdP vouches for the victim's address
    assert_envelope(await sso_login(sso_api, provider["id"]), 403, "PERMISSION_DENIED")


async def test_a_disabled_provider_is_refused(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Disabled")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    url, _ = await authorize(sso_api, provider["id"])
    code, state = await at_idp(url)
    await sso_api.ok(
        "PUT", f"/v1/management/auth-providers/{provider['id']}", token=tenant.token,
        json={"version": provider["version"], "enabled": False},
    )  # fmt: skip
    assert_envelope(await callback(sso_api, provider["id"], code, state), 403, "PERMISSION_DENIED")
    body = {"provider_id": provider["id"], "redirect_uri": "https://app.stitchd.test/sso/callback"}
    assert_envelope(await sso_api.call("POST", "/v1/auth/oidc/authorize", json=body), 403)


async def test_a_removed_user_cannot_log_in_again(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Removed")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    tokens = (await sso_login(sso_api, provider["id"])).json()
    removed = await sso_api.call("DELETE", f"/v1/management/users/{tokens['user_id']}", token=tenant.token)
    assert removed.status_code < 300, removed.text
    assert_envelope(await sso_login(sso_api, provider["id"]), 403, "PERMISSION_DENIED")
    assert_envelope(await sso_api.call("GET", "/v1/auth/orgs", token=tokens["access_token"]), 401)


async def test_key_rotation_at_the_idp_refetches_the_jwks(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Rotation")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    assert (await sso_login(sso_api, provider["id"])).status_code == 200
    fetches = idp.jwks_fetches
    idp.rotate()
    sso_api.clock.offset += sso_api.deps.sso.jwks_refetch_interval  # past the refetch bound
    response = await sso_login(sso_api, provider["id"])
    assert response.status_code == 200, response.text
    assert idp.jwks_fetches == fetches + 1


async def test_a_wrong_audience_is_refused(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Audience")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    idp.audience = "someone-else"
    assert_envelope(await sso_login(sso_api, provider["id"]), 401, "UNAUTHENTICATED")


async def test_an_expired_id_token_is_refused(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Expired")
    provider = await add_provider(sso_api, tenant, idp)
    _person(idp)
    idp.expires_in = -3600
    assert_envelope(await sso_login(sso_api, provider["id"]), 401, "UNAUTHENTICATED")


async def test_a_tampered_signature_is_refused(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Tampered")
    provider = await add_provider(sso_api, tenant, idp)
    person = _person(idp)
    idp.tamper = True
    assert_envelope(await sso_login(sso_api, provider["id"]), 401, "UNAUTHENTICATED")
    members = await sso_api.ok("GET", "/v1/management/users", token=tenant.token)
    assert person.email not in {m["email"] for m in members["users"]}


async def test_an_sso_session_stays_in_its_organisation(sso_api: Api, idp: OidcIdp) -> None:
    tenant = await sso_api.tenant("Bound")
    other = await sso_api.tenant("Elsewhere")
    provider = await add_provider(sso_api, tenant, idp)
    email = f"both-{uuid4().hex[:8]}@example.com"
    for t in (tenant, other):  # the second one invites the account: it accepts with a password login
        await sso_api.ok("POST", "/v1/management/users", token=t.token,
                         json={"email": email, "password": PASSWORD, "org_role": "org_member"})  # fmt: skip
    own = (await sso_api.login(email))["access_token"]
    await sso_api.ok("POST", f"/v1/auth/invitations/{other.org_id}/accept", token=own)
    _person(idp, email=email)
    tokens = (await sso_login(sso_api, provider["id"])).json()
    token = tokens["access_token"]
    switch = await sso_api.call(
        "POST", "/v1/auth/switch-org", token=token, json={"target_org_id": str(other.org_id)}
    )
    assert_envelope(switch, 403, "PERMISSION_DENIED")
    orgs = await sso_api.ok("GET", "/v1/auth/orgs", token=token)
    assert [o["org_id"] for o in orgs["orgs"]] == [str(tenant.org_id)]
    password = await sso_api.call("PUT", "/v1/auth/password", token=token, json={"new_password": "x" * 20})
    assert password.status_code == 403, password.text
    assert UUID(tokens["user_id"])
