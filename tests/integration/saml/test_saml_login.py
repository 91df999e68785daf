"""SAML login on the real stack against a real SAML IdP (pysaml2's Server, RSA-signed responses): issue 13
parts 3 and 4 through HTTP only: provisioning, tokens, RelayState, replay, disabled provider, removed
user, unverified email, metadata by URL with a key rotation."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4
from xml.etree.ElementTree import fromstring

import pytest
from saml2 import samlp

from tests.integration.gateway.module_stack import module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import Api, assert_envelope
from tests.integration.saml.support import (  # noqa: F401
    Document,
    Provider,
    add_saml_provider,
    at_idp,
    initiate,
    metadata_server_fixture,
    post_acs,
    saml_api_fixture,
    saml_idp_fixture,
    saml_login,
)
from tests.saml_idp import SamlIdp, decode, encode

pytestmark = pytest.mark.integration
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"


def _person() -> str:
    return f"user-{uuid4().hex[:8]}@example.test"


async def test_first_login_provisions_the_user_and_issues_tokens(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("Saml")
    provider = await add_saml_provider(saml_api, tenant, saml_idp, default_role="viewer")
    email = _person()
    response = await saml_login(saml_api, saml_idp, provider, email=email)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["org_id"] == str(tenant.org_id)
    assert tokens["expires_in"] > 0
    orgs = await saml_api.ok("GET", "/v1/auth/orgs", token=tokens["access_token"])
    assert orgs == {"orgs": [{"org_id": str(tenant.org_id), "org_name": "Saml", "role": "viewer"}]}
    members = await saml_api.ok("GET", "/v1/management/users", token=tenant.token)
    assert email in {m["email"] for m in members["users"]}
    again = await saml_login(saml_api, saml_idp, provider, email=email)  # the same NameID: same account
    assert again.status_code == 200, again.text
    assert again.json()["user_id"] == tokens["user_id"]
    refreshed = await saml_api.ok("POST", "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed["user_id"] == tokens["user_id"]


async def test_the_json_acs_route_is_the_same_login(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlJson")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    url, _ = await initiate(saml_api, provider)
    b64, relay_state = at_idp(saml_idp, provider, url, email=_person())
    body = {"provider_id": provider.id, "saml_response_b64": b64, "relay_state": relay_state}
    tokens = await saml_api.ok("POST", "/v1/auth/saml/acs", json=body)
    assert tokens["org_id"] == str(tenant.org_id)


async def test_a_group_attribute_names_the_role(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlGroups")
    provider = await add_saml_provider(saml_api, tenant, saml_idp, group_roles={"flag-admins": "org_admin"})
    groups = {"groups": ["staff", "flag-admins"]}
    tokens = (await saml_login(saml_api, saml_idp, provider, email=_person(), attributes=groups)).json()
    orgs = await saml_api.ok("GET", "/v1/auth/orgs", token=tokens["access_token"])
    assert orgs["orgs"][0]["role"] == "org_admin"


async def test_a_wrong_relay_state_is_refused(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlRelay")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    url, _ = await initiate(saml_api, provider)
    b64, _ = at_idp(saml_idp, provider, url, email=_person())
    assert_envelope(await post_acs(saml_api, provider, b64, "forged-relay-state"), 401, "UNAUTHENTICATED")


async def test_a_relay_state_of_another_provider_is_refused(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlTwo")
    mine = await add_saml_provider(saml_api, tenant, saml_idp)
    theirs = await add_saml_provider(saml_api, await saml_api.tenant("SamlOther"), saml_idp)
    url, _ = await initiate(saml_api, theirs)
    b64, relay_state = at_idp(saml_idp, theirs, url, email=_person())
    assert_envelope(await post_acs(saml_api, mine, b64, relay_state), 401, "UNAUTHENTICATED")


async def test_a_replayed_response_is_refused(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlReplay")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    url, _ = await initiate(saml_api, provider)
    b64, relay_state = at_idp(saml_idp, provider, url, email=_person())
    assert (await post_acs(saml_api, provider, b64, relay_state)).status_code == 200
    assert_envelope(await post_acs(saml_api, provider, b64, relay_state), 401, "UNAUTHENTICATED")


async def test_a_used_assertion_id_never_logs_in_again(saml_api: Api, saml_idp: SamlIdp) -> None:
    """The replay cache alone: a new request, a new genuinely signed response, a used assertion id."""
    tenant = await saml_api.tenant("SamlReuse")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    email = _person()
    url, _ = await initiate(saml_api, provider)
    first, relay_state = at_idp(saml_idp, provider, url, email=email)
    assert (await post_acs(saml_api, provider, first, relay_state)).status_code == 200
    used_id = fromstring(decode(first)).find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    assert used_id is not None

    def reuse(response: samlp.Response) -> None:
        response.assertion[0].id = used_id.get("ID")

    url, _ = await initiate(saml_api, provider)
    again, relay_again = at_idp(saml_idp, provider, url, email=email, edit=reuse)
    refused = assert_envelope(await post_acs(saml_api, provider, again, relay_again), 401, "UNAUTHENTICATED")
    assert "replay" in refused["error"]


async def test_an_expired_relay_state_is_refused(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlLate")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    url, _ = await initiate(saml_api, provider)
    b64, relay_state = at_idp(saml_idp, provider, url, email=_person())
    saml_api.clock.offset = saml_api.deps.sso.state_ttl * 2
    try:
        assert_envelope(await post_acs(saml_api, provider, b64, relay_state), 401, "UNAUTHENTICATED")
    finally:
        saml_api.clock.offset = type(saml_api.clock.offset)()


async def test_a_forged_response_is_refused_and_provisions_nobody(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlForged")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    url, _ = await initiate(saml_api, provider)
    b64, relay_state = at_idp(saml_idp, provider, url, email="ada@example.test")
    forged = encode(decode(b64).replace("ada@example.test", "mallory@example.test"))
    assert_envelope(await post_acs(saml_api, provider, forged, relay_state), 401, "UNAUTHENTICATED")
    members = await saml_api.ok("GET", "/v1/management/users", token=tenant.token)
    assert "mallory@example.test" not in {m["email"] for m in members["users"]}


async def test_a_disabled_provider_is_refused(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlOff")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    url, _ = await initiate(saml_api, provider)
    b64, relay_state = at_idp(saml_idp, provider, url, email=_person())
    await saml_api.ok(
        "PUT", f"/v1/management/auth-providers/{provider.id}", token=tenant.token,
        json={"version": provider.version, "enabled": False},
    )  # fmt: skip
    assert_envelope(await post_acs(saml_api, provider, b64, relay_state), 403, "PERMISSION_DENIED")
    body = {"provider_id": provider.id}
    assert_envelope(await saml_api.call("POST", "/v1/auth/saml/sso", json=body), 403, "PERMISSION_DENIED")


async def test_a_removed_user_cannot_log_in_again(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlRemoved")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    email = _person()
    tokens = (await saml_login(saml_api, saml_idp, provider, email=email)).json()
    removed = await saml_api.call("DELETE", f"/v1/management/users/{tokens['user_id']}", token=tenant.token)
    assert removed.status_code < 300, removed.text
    assert_envelope(await saml_login(saml_api, saml_idp, provider, email=email), 403, "PERMISSION_DENIED")
    assert_envelope(await saml_api.call("GET", "/v1/auth/orgs", token=tokens["access_token"]), 401)


async def test_without_email_domains_an_email_is_verified_only_by_the_attribute(
    saml_api: Api, saml_idp: SamlIdp
) -> None:
    tenant = await saml_api.tenant("SamlVerified")
    provider = await add_saml_provider(saml_api, tenant, saml_idp, email_domains=[])
    refused = await saml_login(saml_api, saml_idp, provider, email=_person())
    assert_envelope(refused, 403, "PERMISSION_DENIED")
    said_so = {"email_verified": ["true"]}
    accepted = await saml_login(saml_api, saml_idp, provider, email=_person(), attributes=said_so)
    assert accepted.status_code == 200, accepted.text


async def test_an_explicit_unverified_attribute_wins_over_the_domains(
    saml_api: Api, saml_idp: SamlIdp
) -> None:
    tenant = await saml_api.tenant("SamlUnverified")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    denied = {"email_verified": ["false"]}
    response = await saml_login(saml_api, saml_idp, provider, email=_person(), attributes=denied)
    assert_envelope(response, 403, "PERMISSION_DENIED")


async def test_an_email_outside_the_provider_domains_is_refused(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlDomain")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    response = await saml_login(saml_api, saml_idp, provider, email=f"x-{uuid4().hex[:6]}@elsewhere.test")
    assert_envelope(response, 403, "PERMISSION_DENIED")


async def test_sp_metadata_names_the_providers_acs_url(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlMeta")
    provider = await add_saml_provider(saml_api, tenant, saml_idp, saml={
        "idp_metadata_xml": saml_idp.metadata_xml(), "sp_entity_id": "urn:stitchd:test-sp",
    })  # fmt: skip
    response = await saml_api.call("GET", f"/v1/auth/saml/{provider.id}/metadata")
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    root = fromstring(response.text)
    assert root.get("entityID") == "urn:stitchd:test-sp"
    acs = root.find(f"{MD}SPSSODescriptor/{MD}AssertionConsumerService")
    assert acs is not None
    assert (
        acs.get("Location")
        == provider.acs_url
        == f"https://stitchd.example.test/v1/auth/saml/{provider.id}/acs"
    )


async def test_an_acs_url_other_than_the_providers_is_refused(saml_api: Api, saml_idp: SamlIdp) -> None:
    tenant = await saml_api.tenant("SamlAcs")
    provider = await add_saml_provider(saml_api, tenant, saml_idp)
    body = {"provider_id": provider.id, "acs_url": "https://evil.test/acs"}
    assert_envelope(await saml_api.call("POST", "/v1/auth/saml/sso", json=body), 400, "INVALID_ARGUMENT")
    body["acs_url"] = provider.acs_url
    assert (await saml_api.call("POST", "/v1/auth/saml/sso", json=body)).status_code == 200


async def test_unknown_and_oidc_providers_are_not_found_here(saml_api: Api) -> None:
    tenant = await saml_api.tenant("SamlNone")
    oidc = await saml_api.ok("POST", "/v1/management/auth-providers", token=tenant.token, json={
        "display_name": "OIDC", "oidc": {"issuer_url": "https://idp.example.test", "client_id": "c"},
    })  # fmt: skip
    for provider_id in (str(uuid4()), oidc["provider"]["id"]):
        body = {"provider_id": provider_id}
        assert_envelope(await saml_api.call("POST", "/v1/auth/saml/sso", json=body), 404, "NOT_FOUND")
        assert_envelope(await saml_api.call("GET", f"/v1/auth/saml/{provider_id}/metadata"), 404, "NOT_FOUND")


async def test_unusable_idp_metadata_is_a_precondition_failure(saml_api: Api) -> None:
    tenant = await saml_api.tenant("SamlBadMeta")
    created = await saml_api.ok("POST", "/v1/management/auth-providers", token=tenant.token, json={
        "display_name": "Broken", "saml": {"idp_metadata_xml": "<not-metadata/>"},
    })  # fmt: skip
    body = {"provider_id": created["provider"]["id"]}
    assert_envelope(await saml_api.call("POST", "/v1/auth/saml/sso", json=body), 409, "FAILED_PRECONDITION")


async def test_metadata_by_url_follows_a_key_rotation(
    saml_api: Api, tmp_path: Path, metadata_server: tuple[str, Document]
) -> None:
    url, doc = metadata_server
    old = SamlIdp(tmp_path / "old", name="old")
    new = SamlIdp(tmp_path / "new", name="new")
    doc.body = old.metadata_xml()
    tenant = await saml_api.tenant("SamlRotation")
    provider = await add_saml_provider(saml_api, tenant, old, saml={"idp_metadata_url": url})
    new.trust(old.sp_metadata[-1])
    cache = saml_api.deps.saml_metadata_cache()
    assert (await saml_login(saml_api, old, provider, email=_person())).status_code == 200
    assert doc.hits == 1  # fetched once, then cached

    doc.body = new.metadata_xml()  # the IdP rotates its signing key
    tick = cache.monotonic
    cache.monotonic = lambda: tick() + 120  # the last fetch is older than the refetch interval
    try:
        response = await saml_login(saml_api, new, provider, email=_person())
    finally:
        cache.monotonic = tick
    assert response.status_code == 200, response.text
    assert doc.hits == 2  # refetched once, when the signature failed against the cached key
