"""Forged, stale, misdirected and malformed SAMLResponses are refused (gateway.saml.protocol), each
produced by a real pysaml2 IdP and then attacked the way an attacker holding a genuine response would.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from saml2 import samlp

from gateway.saml import protocol
from gateway.saml.envelope import decode_response
from gateway.saml.errors import SamlRejected
from gateway.saml.protocol import ServiceProvider
from tests.saml_idp import (
    SHA1,
    SamlIdp,
    SamlRig,
    assertion_span,
    decode,
    encode,
    forged_assertion,
)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> SamlRig:
    return SamlRig(tmp_path_factory.mktemp("saml-adversarial"))


def _refused(rig: SamlRig, b64: str, request_id: str) -> None:
    """Refused for what it says, not because the test's forgery broke the XML (that would prove nothing)."""
    with pytest.raises(SamlRejected) as refused:
        rig.verify(b64, request_id)
    assert "not acceptable XML" not in str(refused.value)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _set_times(not_before: datetime, not_after: datetime) -> Callable[[samlp.Response], None]:
    def edit(response: samlp.Response) -> None:
        assertion = response.assertion[0]
        assertion.conditions.not_before = _stamp(not_before)
        assertion.conditions.not_on_or_after = _stamp(not_after)
        for confirmation in assertion.subject.subject_confirmation:
            confirmation.subject_confirmation_data.not_on_or_after = _stamp(not_after)

    return edit


# --- not for us, not now, not asked for ------------------------------------------------------------------


def test_an_expired_assertion_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()
    now = datetime.now(UTC)
    expired = _set_times(now - timedelta(hours=1), now - timedelta(minutes=10))
    _refused(rig, rig.respond(request_id, edit=expired), request_id)


def test_an_assertion_not_yet_valid_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()
    now = datetime.now(UTC)
    early = _set_times(now + timedelta(minutes=10), now + timedelta(hours=1))
    _refused(rig, rig.respond(request_id, edit=early), request_id)


def test_an_assertion_for_another_audience_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()

    def other_audience(response: samlp.Response) -> None:
        response.assertion[0].conditions.audience_restriction[0].audience[0].text = "https://other-sp.test"

    _refused(rig, rig.respond(request_id, edit=other_audience), request_id)


def test_an_assertion_without_an_audience_restriction_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()

    def no_audience(response: samlp.Response) -> None:
        response.assertion[0].conditions.audience_restriction = []

    _refused(rig, rig.respond(request_id, edit=no_audience), request_id)


def test_an_assertion_for_another_recipient_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()

    def other_recipient(response: samlp.Response) -> None:
        for confirmation in response.assertion[0].subject.subject_confirmation:
            confirmation.subject_confirmation_data.recipient = "https://evil.test/acs"

    _refused(rig, rig.respond(request_id, edit=other_recipient), request_id)


@pytest.mark.parametrize("destination", ["https://evil.test/acs", None])
def test_a_response_for_another_destination_or_none_is_refused(rig: SamlRig, destination: str | None) -> None:
    request_id = rig.start()

    def other_destination(response: samlp.Response) -> None:
        response.destination = destination

    _refused(rig, rig.respond(request_id, edit=other_destination), request_id)


def test_a_response_to_an_unknown_request_is_refused(rig: SamlRig) -> None:
    rig.start()
    _refused(rig, rig.respond("id-nobody-asked-for-this"), "id-the-one-we-sent")


def test_a_response_to_another_outstanding_request_is_refused(rig: SamlRig) -> None:
    first, second = rig.start(), rig.start()
    _refused(rig, rig.respond(first), second)


def test_an_unsolicited_response_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()

    def unsolicited(response: samlp.Response) -> None:
        response.in_response_to = None
        for confirmation in response.assertion[0].subject.subject_confirmation:
            confirmation.subject_confirmation_data.in_response_to = None

    _refused(rig, rig.respond(request_id, edit=unsolicited), request_id)


def test_a_response_from_another_issuer_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()

    def other_issuer(response: samlp.Response) -> None:
        response.issuer.text = "https://evil-idp.test/md"
        response.assertion[0].issuer.text = "https://evil-idp.test/md"

    _refused(rig, rig.respond(request_id, edit=other_issuer), request_id)


# --- signatures --------------------------------------------------------------------------------------------


def test_an_unsigned_response_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()
    _refused(rig, rig.respond(request_id, sign_assertion=False, sign_response=False), request_id)


@pytest.mark.parametrize(("assertion", "whole"), [(True, False), (False, True), (True, True)])
def test_a_tampered_signed_response_is_refused(rig: SamlRig, assertion: bool, whole: bool) -> None:
    request_id = rig.start()
    xml = decode(rig.respond(request_id, sign_assertion=assertion, sign_response=whole))
    assert xml.count("ada@example.test") >= 2
    _refused(rig, encode(xml.replace("ada@example.test", "eve@example.test")), request_id)


def test_a_broken_signature_value_is_refused(rig: SamlRig) -> None:
    request_id = rig.start()
    xml = decode(rig.respond(request_id, sign_response=False))
    start = xml.index("<ns2:SignatureValue>") + len("<ns2:SignatureValue>")
    flipped = "A" if xml[start] != "A" else "B"
    _refused(rig, encode(xml[:start] + flipped + xml[start + 1 :]), request_id)


def test_a_response_signed_by_another_key_is_refused(rig: SamlRig, tmp_path: Path) -> None:
    """An attacker's IdP with the same entity id; its certificate rides in KeyInfo and must be ignored."""
    impostor = SamlIdp(tmp_path, name="impostor", entity_id=rig.idp.entity_id)
    impostor.trust(protocol.sp_metadata_xml(rig.sp))
    request_id = rig.start()
    forged = impostor.issue(in_response_to=request_id, acs_url=rig.sp.acs_url, sp_entity_id=rig.sp.entity_id)
    _refused(rig, forged, request_id)


# --- XML signature wrapping (XSW): a genuine signed assertion kept, an unsigned one injected --------------


def _signed_parts(rig: SamlRig, request_id: str) -> tuple[str, str]:
    """A genuine Response whose assertion alone is signed, and that signed Assertion's exact bytes."""
    xml = decode(rig.respond(request_id, sign_response=False))
    start, end = assertion_span(xml)
    return xml, xml[start:end]


def _xsw_variants(xml: str, signed: str) -> dict[str, str]:
    start, end = assertion_span(xml)
    evil = forged_assertion(signed, email="eve@example.test", new_id="id-evil")
    evil_same_id = forged_assertion(signed, email="eve@example.test")
    head, tail = xml[:start], xml[end:]
    inner_close = evil.rindex("</ns1:Assertion>")
    return {
        # XSW3: the forged assertion first, the signed one after it as a sibling
        "xsw3-sibling-before": head + evil + signed + tail,
        # XSW4: the signed assertion wrapped inside the forged one
        "xsw4-signed-inside-forged": head + evil[:inner_close] + signed + evil[inner_close:] + tail,
        # XSW5-like: the forged assertion reuses the signed one's ID; the signed one hidden in Extensions
        "xsw-extensions": head.replace(
            "<ns0:Status>",
            f'<ns0:Extensions xmlns:ns0="urn:oasis:names:tc:SAML:2.0:protocol">{signed}'
            "</ns0:Extensions><ns0:Status>",
            1,
        )
        + evil_same_id
        + tail,
        # XSW with the genuine signature copied onto a forged assertion that replaced the signed one
        "signature-copied-onto-forgery": head + signed.replace("ada@example.test", "eve@example.test") + tail,
    }


@pytest.mark.parametrize(
    "variant",
    ["xsw3-sibling-before", "xsw4-signed-inside-forged", "xsw-extensions", "signature-copied-onto-forgery"],
)
def test_signature_wrapping_is_refused(rig: SamlRig, variant: str) -> None:
    request_id = rig.start()
    xml, signed = _signed_parts(rig, request_id)
    forged = _xsw_variants(xml, signed)[variant]
    assert "eve@example.test" in forged
    assert signed.count("ada@example.test") >= 1
    _refused(rig, encode(forged), request_id)


@pytest.mark.parametrize("variant", ["xsw3-sibling-before", "xsw4-signed-inside-forged"])
def test_signature_wrapping_is_refused_by_the_library_alone(
    rig: SamlRig, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the envelope's one-assertion rule switched off, pysaml2 still refuses."""

    def lax(b64: str, *, max_bytes: int) -> bytes:
        return base64.b64decode(b64)

    monkeypatch.setattr(protocol, "decode_response", lax)
    request_id = rig.start()
    xml, signed = _signed_parts(rig, request_id)
    forged = _xsw_variants(xml, signed)[variant]
    with pytest.raises(SamlRejected) as refused:
        rig.verify(encode(forged), request_id)
    assert "eve@example.test" not in str(refused.value)


def test_a_response_wrapping_a_signed_response_is_refused(rig: SamlRig) -> None:
    """XSW1/2 at the Response level: the genuine signed Response hidden inside a forged one."""
    request_id = rig.start()
    genuine = decode(rig.respond(request_id, sign_assertion=False))
    body = genuine.split("?>", 1)[1] if genuine.startswith("<?xml") else genuine
    start, end = assertion_span(body)
    evil = forged_assertion(body[start:end], email="eve@example.test", new_id="id-evil")
    open_end = body.index(">") + 1
    forged = (
        body[:open_end].replace('ID="', 'ID="evil-')
        + "<ns0:Extensions>"
        + body
        + "</ns0:Extensions>"
        + '<ns0:Status><ns0:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success" /></ns0:Status>'
        + evil
        + "</ns0:Response>"
    )
    _refused(rig, encode(forged), request_id)


# --- the envelope ------------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&c;</samlp:Response>'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>'
)


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entity_declarations_are_refused_before_any_library_sees_them(rig: SamlRig, xml: str) -> None:
    with pytest.raises(SamlRejected, match="not acceptable XML"):
        rig.verify(encode(xml), "id-1")


def test_an_oversized_response_is_refused_before_decoding(rig: SamlRig) -> None:
    small = ServiceProvider(
        entity_id=rig.sp.entity_id,
        acs_url=rig.sp.acs_url,
        idp_metadata_xml=rig.sp.idp_metadata_xml,
        max_response_bytes=4096,
    )
    request_id = rig.start()
    padded = decode(rig.respond(request_id)).replace("Ada Lovelace", "A" * 8192)
    with pytest.raises(SamlRejected, match="too large"):
        protocol.verify_response(small, encode(padded), request_id=request_id)


def test_an_encrypted_assertion_is_refused() -> None:
    xml = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
        ' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:EncryptedAssertion/></samlp:Response>'
    )
    with pytest.raises(SamlRejected, match="encrypted"):
        decode_response(encode(xml))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())))
def test_any_input_is_refused_cleanly_never_an_unexpected_error(data: str) -> None:
    """Property: arbitrary text or base64 never escapes the envelope as anything but SamlRejected."""
    with pytest.raises(SamlRejected):
        decode_response(data)


@pytest.mark.parametrize(("assertion", "whole"), [(True, False), (False, True)])
def test_a_response_signed_with_sha1_is_refused(rig: SamlRig, assertion: bool, whole: bool) -> None:
    request_id = rig.start()
    b64 = rig.respond(request_id, sign_assertion=assertion, sign_response=whole, algorithms=SHA1)
    with pytest.raises(SamlRejected, match="weak"):
        rig.verify(b64, request_id)
