"""SAML 2.0 Web SSO, service-provider side, over pysaml2: SP-initiated, HTTP-Redirect out, HTTP-POST back.

Pure protocol: no database, no settings, no network. Each call builds a pysaml2 client over one
provider's IdP metadata only, so a response can only ever be checked against that provider's
certificates (never another tenant's). Calls are synchronous (pysaml2 runs the `xmlsec1` binary);
the async caller runs them in a worker thread.

`verify_response` holds a response to everything pysaml2 checks (the signature of the response or of
the assertion against the IdP certificate from the metadata only, never a certificate the message
carries; `InResponseTo` among the outstanding request ids; NotBefore / NotOnOrAfter with the skew;
the audience when present) and adds what pysaml2 leaves optional or skips: the hardened envelope
(gateway.saml.envelope), a Destination equal to our ACS URL, an AudienceRestriction naming our entity
id, bearer confirmations whose Recipient is our ACS URL, a NotOnOrAfter, and the issuer the metadata
names.
"""

from __future__ import annotations

import base64
import calendar
import shutil
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.s_utils import sid
from saml2.saml import SCM_BEARER
from saml2.time_util import str_to_time

from gateway.saml.envelope import DEFAULT_MAX_RESPONSE_BYTES, decode_response
from gateway.saml.errors import SamlConfigError, SamlRejected, SamlUnavailable
from gateway.saml.identity import (
    NAME_NAMES,
    SamlIdentity,
    attribute_values,
    email_of,
    first,
    groups_of,
    verified_flag,
)

DEFAULT_SKEW_SECONDS = 60


class ServiceProvider(msgspec.Struct, frozen=True, kw_only=True):
    """One provider's SP side: who we are to the IdP, where it posts back, and the IdP it trusts."""

    entity_id: str
    acs_url: str
    idp_metadata_xml: str = ""  # may be empty only for `sp_metadata_xml`
    name_id_format: str = ""  # "" = let the IdP choose
    skew_seconds: int = DEFAULT_SKEW_SECONDS
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


class AuthnRedirect(msgspec.Struct, frozen=True, kw_only=True):
    """The AuthnRequest's id (the outstanding query) and the IdP URL carrying it and the RelayState."""

    request_id: str
    redirect_url: str


def xmlsec_binary() -> str:
    """The `xmlsec1` pysaml2 needs to check signatures (Debian package `xmlsec1`)."""
    path = shutil.which("xmlsec1")
    if path is None:
        raise SamlUnavailable("the xmlsec1 binary is not installed (Debian package xmlsec1)")
    return path


def _config(sp: ServiceProvider, *, with_idp: bool = True) -> SPConfig:
    sp_service: dict[str, Any] = {
        "endpoints": {"assertion_consumer_service": [(sp.acs_url, BINDING_HTTP_POST)]},
        "allow_unsolicited": False,
        "authn_requests_signed": False,
        "want_response_signed": False,
        "want_assertions_signed": False,
        "want_assertions_or_response_signed": True,
        "only_use_keys_in_metadata": True,
        "name_id_format": [sp.name_id_format] if sp.name_id_format else [],
    }
    settings: dict[str, Any] = {
        "entityid": sp.entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "accepted_time_diff": sp.skew_seconds,
        "allow_unknown_attributes": True,
        "service": {"sp": sp_service},
    }
    if with_idp:
        settings["metadata"] = {"inline": [sp.idp_metadata_xml]}
    config = SPConfig()
    try:
        config.load(settings)
    except Exception as exc:  # pysaml2 raises anything from its metadata parser
        raise SamlConfigError(f"the IdP metadata cannot be loaded ({type(exc).__name__})") from exc
    return config


def _client(sp: ServiceProvider) -> tuple[Saml2Client, str]:
    """A client over this provider's metadata alone, and the one IdP entity id it names."""
    if not sp.idp_metadata_xml.strip():
        raise SamlConfigError("the provider has no IdP metadata")
    client = Saml2Client(config=_config(sp))
    idps = list(client.metadata.identity_providers())
    if len(idps) != 1:
        raise SamlConfigError(f"the IdP metadata must describe exactly one IdP, not {len(idps)}")
    if not client.metadata.certs(idps[0], "idpsso", "signing"):
        raise SamlConfigError("the IdP metadata has no signing certificate")
    return client, str(idps[0])


def sp_metadata_xml(sp: ServiceProvider) -> str:
    """Our SP `EntityDescriptor` for the IdP's administrator (ACS URL, entity id, NameID format)."""
    descriptor = entity_descriptor(_config(sp, with_idp=False))
    descriptor.extensions = None  # pysaml2 would advertise every algorithm xmlsec1 has, MD5 included
    return str(descriptor)


def new_request_id() -> str:
    """A fresh AuthnRequest ID: 136 random bits, an NCName as SAML requires."""
    return str(sid())


def authn_redirect(sp: ServiceProvider, relay_state: str, *, request_id: str | None = None) -> AuthnRedirect:
    """An AuthnRequest (`request_id`, else a fresh one), deflated + base64 + URL-encoded into the IdP's
    HTTP-Redirect SingleSignOnService URL together with the RelayState."""
    client, idp = _client(sp)
    try:
        request_id, info = client.prepare_for_authenticate(
            entityid=idp,
            relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT,
            nameid_format=sp.name_id_format or None,
            message_id=request_id or new_request_id(),
        )
    except Exception as exc:  # e.g. no HTTP-Redirect SingleSignOnService in the metadata
        raise SamlConfigError(f"no AuthnRequest for this IdP ({type(exc).__name__})") from exc
    location = dict(info["headers"]).get("Location", "")
    if urlsplit(location).scheme not in ("https", "http"):
        raise SamlConfigError("the IdP's SingleSignOnService is not an HTTP URL")
    return AuthnRedirect(request_id=str(request_id), redirect_url=location)


def verify_response(sp: ServiceProvider, saml_response_b64: str, *, request_id: str) -> SamlIdentity:
    """The identity in a SAMLResponse answering `request_id`, or SamlRejected saying why not."""
    client, idp = _client(sp)
    raw = decode_response(saml_response_b64, max_bytes=sp.max_response_bytes)
    try:
        parsed = client.parse_authn_request_response(
            base64.b64encode(raw).decode("ascii"),
            BINDING_HTTP_POST,
            outstanding={request_id: "/"},
            conv_info={"entity_id": sp.entity_id},
        )
    except SamlUnavailable:
        raise
    except Exception as exc:  # pysaml2 signals a refusal with dozens of exception types
        raise SamlRejected(f"the IdP response does not verify ({type(exc).__name__})") from exc
    if parsed is None or parsed.assertion is None:
        raise SamlRejected("the IdP response does not verify")
    return _identity(sp, parsed, idp=idp, request_id=request_id)


def _identity(sp: ServiceProvider, parsed: Any, *, idp: str, request_id: str) -> SamlIdentity:
    response, assertion = parsed.response, parsed.assertion
    if response.destination != sp.acs_url:
        raise SamlRejected("the response's Destination is not this provider's ACS URL")
    if response.in_response_to != request_id:
        raise SamlRejected("the response answers another request")
    if _issuer(assertion) != idp or (response.issuer is not None and _text(response.issuer) != idp):
        raise SamlRejected("the response is not issued by this provider's IdP")
    _check_audience(assertion, sp.entity_id)
    _check_confirmation(assertion, sp.acs_url)
    name_id = assertion.subject.name_id
    if name_id is None or not _text(name_id):
        raise SamlRejected("the assertion names no subject")
    values = attribute_values(assertion)
    nid, fmt = _text(name_id), str(name_id.format or "")
    return SamlIdentity(
        issuer=idp,
        name_id=nid,
        name_id_format=fmt,
        email=email_of(values, nid, fmt),
        email_verified_attribute=verified_flag(values),
        name=first(values, NAME_NAMES),
        groups=groups_of(values),
        assertion_id=str(assertion.id),
        not_on_or_after=_expiry(assertion),
    )


def _text(element: Any) -> str:
    return str(element.text or "").strip()


def _issuer(assertion: Any) -> str:
    return _text(assertion.issuer) if assertion.issuer is not None else ""


def _check_audience(assertion: Any, entity_id: str) -> None:
    """An AudienceRestriction must exist and name us (pysaml2 accepts an assertion without one)."""
    conditions = assertion.conditions
    restrictions = conditions.audience_restriction if conditions is not None else []
    audiences = {_text(a) for r in restrictions or () for a in r.audience or ()}
    if not restrictions or entity_id not in audiences:
        raise SamlRejected("the assertion is not for this service provider (audience)")


def _check_confirmation(assertion: Any, acs_url: str) -> None:
    """Bearer confirmations only, each for our ACS URL (pysaml2 skips the recipient without conv_info)."""
    confirmations = assertion.subject.subject_confirmation or []
    for confirmation in confirmations:
        data = confirmation.subject_confirmation_data
        if confirmation.method != SCM_BEARER or data is None or data.recipient != acs_url:
            raise SamlRejected("the assertion's bearer confirmation is not for this ACS URL (recipient)")
    if not confirmations:
        raise SamlRejected("the assertion has no bearer confirmation")


def _expiry(assertion: Any) -> datetime:
    """The earliest NotOnOrAfter of the conditions and the bearer confirmations; one must exist."""
    stamps = []
    if assertion.conditions is not None and assertion.conditions.not_on_or_after:
        stamps.append(assertion.conditions.not_on_or_after)
    for confirmation in assertion.subject.subject_confirmation or ():
        data = confirmation.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            stamps.append(data.not_on_or_after)
    if not stamps:
        raise SamlRejected("the assertion has no NotOnOrAfter")
    return min(datetime.fromtimestamp(calendar.timegm(str_to_time(s)), tz=UTC) for s in stamps)
