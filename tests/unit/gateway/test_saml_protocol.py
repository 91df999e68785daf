"""gateway.saml.protocol against a real pysaml2 IdP (tests/saml_idp.py): the happy path and the SP side."""

from __future__ import annotations

import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import fromstring

import pytest

from gateway.saml.errors import SamlConfigError
from gateway.saml.protocol import ServiceProvider, authn_redirect, sp_metadata_xml, verify_response
from tests.saml_idp import ACS_URL, IDP_ENTITY, IDP_SSO_URL, SP_ENTITY, SamlRig, inflate_request

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> SamlRig:
    return SamlRig(tmp_path_factory.mktemp("saml-protocol"))


def test_a_signed_response_to_our_request_yields_the_asserted_identity(rig: SamlRig) -> None:
    request_id = rig.start()
    who = rig.verify(rig.respond(request_id, email="Ada@Example.test"), request_id)
    assert who.issuer == IDP_ENTITY
    assert who.name_id == "Ada@Example.test"
    assert who.email == "ada@example.test"
    assert who.name == "Ada Lovelace"
    assert who.groups == ("engineering",)
    assert who.email_verified_attribute is None
    assert who.assertion_id


@pytest.mark.parametrize(("assertion", "whole"), [(True, False), (False, True), (True, True)])
def test_either_signature_is_enough(rig: SamlRig, assertion: bool, whole: bool) -> None:
    request_id = rig.start()
    b64 = rig.respond(request_id, sign_assertion=assertion, sign_response=whole)
    assert rig.verify(b64, request_id).email == "ada@example.test"


def test_the_email_verified_attribute_is_read_as_a_boolean(rig: SamlRig) -> None:
    request_id = rig.start()
    b64 = rig.respond(request_id, attributes={"email_verified": ["true"], "groups": ["a", "b", "a"]})
    who = rig.verify(b64, request_id)
    assert who.email_verified_attribute is True
    assert who.groups == ("a", "b")


def test_the_redirect_carries_a_deflated_authn_request_for_our_acs(rig: SamlRig) -> None:
    redirect = authn_redirect(rig.sp, "opaque-relay")
    url = urlsplit(redirect.redirect_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == IDP_SSO_URL
    assert parse_qs(url.query)["RelayState"] == ["opaque-relay"]
    request = fromstring(inflate_request(redirect.redirect_url))
    assert request.tag == f"{SAMLP}AuthnRequest"
    assert request.get("ID") == redirect.request_id
    assert request.get("AssertionConsumerServiceURL") == ACS_URL
    assert request.get("Destination") == IDP_SSO_URL


def test_every_request_has_a_fresh_id(rig: SamlRig) -> None:
    ids = {authn_redirect(rig.sp, "r").request_id for _ in range(5)}
    assert len(ids) == 5


def test_sp_metadata_is_an_entity_descriptor_naming_our_acs(rig: SamlRig) -> None:
    root = fromstring(sp_metadata_xml(rig.sp))
    assert root.tag == f"{MD}EntityDescriptor"
    assert root.get("entityID") == SP_ENTITY
    acs = root.find(f"{MD}SPSSODescriptor/{MD}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == ACS_URL
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def test_sp_metadata_needs_no_idp_metadata() -> None:
    sp = ServiceProvider(entity_id=SP_ENTITY, acs_url=ACS_URL)
    assert fromstring(sp_metadata_xml(sp)).get("entityID") == SP_ENTITY


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "not xml at all",
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
    ],
)
def test_unusable_idp_metadata_is_a_config_error(metadata: str) -> None:
    sp = ServiceProvider(entity_id=SP_ENTITY, acs_url=ACS_URL, idp_metadata_xml=metadata)
    with pytest.raises(SamlConfigError):
        authn_redirect(sp, "r")
    with pytest.raises(SamlConfigError):
        verify_response(sp, "PHNhbWxwOlJlc3BvbnNlLz4=", request_id="id-1")


def test_metadata_naming_two_idps_is_refused(rig: SamlRig, tmp_path: Path) -> None:
    from tests.saml_idp import SamlIdp

    other = SamlIdp(tmp_path, entity_id="https://other-idp.example.test/md").metadata_xml()
    both = (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        f"{_strip_decl(rig.sp.idp_metadata_xml)}{_strip_decl(other)}</md:EntitiesDescriptor>"
    )
    sp = ServiceProvider(entity_id=SP_ENTITY, acs_url=ACS_URL, idp_metadata_xml=both)
    with pytest.raises(SamlConfigError, match="exactly one IdP"):
        authn_redirect(sp, "r")


def _strip_decl(xml: str) -> str:
    return xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml


def test_the_request_is_deflate_raw_not_zlib_wrapped(rig: SamlRig) -> None:
    import base64

    query = parse_qs(urlsplit(authn_redirect(rig.sp, "r").redirect_url).query)
    data = base64.b64decode(query["SAMLRequest"][0])
    with pytest.raises(zlib.error):
        zlib.decompress(data)  # a zlib header would make this succeed; HTTP-Redirect is raw DEFLATE
    assert zlib.decompress(data, -15).startswith(b"<")


def test_sp_metadata_advertises_no_algorithm_list(rig: SamlRig) -> None:
    root = fromstring(sp_metadata_xml(rig.sp))
    assert root.find(f"{MD}Extensions") is None
    assert "md5" not in sp_metadata_xml(rig.sp)
