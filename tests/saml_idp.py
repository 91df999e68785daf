"""A real SAML identity provider for tests: pysaml2's IdP side (`saml2.server.Server`), signing with an
RSA key and certificate generated here with `cryptography`, answering the AuthnRequests our SP sends.

`issue` builds the Response with pysaml2, lets a test edit it (wrong audience, wrong recipient, ...),
then signs it with the IdP's key exactly as pysaml2 signs (xmlsec1, enveloped signatures, the assertion
first, then the response). `tamper` edits afterwards, without re-signing, for the forgery cases.
"""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT, samlp
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.sigver import pre_signature_part, signed_instance_factory

from gateway.saml.protocol import xmlsec_binary

IDP_ENTITY = "https://idp.example.test/saml/metadata"
IDP_SSO_URL = "https://idp.example.test/saml/sso"
AUTHN = {"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password", "authn_auth": IDP_ENTITY}
DEFAULT_SIGN = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DEFAULT_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = ("http://www.w3.org/2000/09/xmldsig#sha1", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
Edit = Callable[[samlp.Response], None]


def write_key_pair(folder: Path, name: str, common_name: str) -> tuple[Path, Path]:
    """A fresh RSA-2048 key and a self-signed certificate for it, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class SamlIdp:
    """One IdP: entity id, SSO endpoint, signing key; `trust(sp_metadata)` before `issue`."""

    def __init__(self, folder: Path, *, name: str = "idp", entity_id: str = IDP_ENTITY) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.entity_id = entity_id
        self.key_file, self.cert_file = write_key_pair(folder, name, "test idp " + name)
        self.sp_metadata: list[str] = []

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": xmlsec_binary(),
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "service": {
                "idp": {
                    "endpoints": {"single_sign_on_service": [(IDP_SSO_URL, BINDING_HTTP_REDIRECT)]},
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
                }
            },
        }
        if self.sp_metadata:
            settings["metadata"] = {"inline": list(self.sp_metadata)}
        return settings

    def metadata_xml(self) -> str:
        """The IdP's EntityDescriptor: SSO endpoint and signing certificate."""
        config = IdPConfig()
        config.load(self._settings())
        return str(entity_descriptor(config))

    def trust(self, sp_metadata_xml: str) -> None:
        self.sp_metadata.append(sp_metadata_xml)

    def server(self) -> Server:
        config = IdPConfig()
        config.load(self._settings())
        return Server(config=config)

    def read_request(self, redirect_url: str) -> tuple[Any, str]:
        """The AuthnRequest (parsed and checked by the IdP) and the RelayState of a redirect URL."""
        query = parse_qs(urlsplit(redirect_url).query)
        request = self.server().parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return request.message, query["RelayState"][0]

    def issue(
        self,
        *,
        in_response_to: str,
        acs_url: str,
        sp_entity_id: str,
        email: str = "ada@example.test",
        attributes: dict[str, list[str]] | None = None,
        sign_response: bool = True,
        sign_assertion: bool = True,
        edit: Edit | None = None,
        algorithms: tuple[str, str] | None = None,
    ) -> str:
        """A base64 SAMLResponse, edited by `edit` before it is signed."""
        server = self.server()
        identity = {"email": [email], "displayName": ["Ada Lovelace"], "groups": ["engineering"]}
        identity.update(attributes or {})
        unsigned = server.create_authn_response(
            identity=identity,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
            authn=AUTHN,
            sign_response=False,
            sign_assertion=False,
        )
        response = samlp.response_from_string(str(unsigned))
        if edit is not None:
            edit(response)
        signed = self.sign(server, response, assertion=sign_assertion, whole=sign_response, algs=algorithms)
        return encode(signed)

    def sign(
        self,
        server: Server,
        response: samlp.Response,
        *,
        assertion: bool,
        whole: bool,
        algs: tuple[str, str] | None = None,
    ) -> str:
        """Sign like pysaml2 does; `algs` = (digest, signature) algorithm URIs, SHA-256 by default."""
        digest, sign = algs or (DEFAULT_DIGEST, DEFAULT_SIGN)
        to_sign: list[tuple[str, str]] = []
        if assertion:
            a = response.assertion[0] if isinstance(response.assertion, list) else response.assertion
            a.signature = pre_signature_part(a.id, server.sec.my_cert, "sig-assertion", digest, sign)
            to_sign.append(("urn:oasis:names:tc:SAML:2.0:assertion:Assertion", a.id))
        if whole:
            response.signature = pre_signature_part(
                response.id, server.sec.my_cert, "sig-response", digest, sign
            )
            to_sign.append(("urn:oasis:names:tc:SAML:2.0:protocol:Response", response.id))
        if not to_sign:
            return str(response)
        return str(signed_instance_factory(response, server.sec, to_sign))


def encode(xml: str | bytes) -> str:
    return base64.b64encode(xml.encode() if isinstance(xml, str) else xml).decode("ascii")


def decode(saml_response_b64: str) -> str:
    return base64.b64decode(saml_response_b64).decode()


def inflate_request(redirect_url: str) -> str:
    """The AuthnRequest XML inside an HTTP-Redirect URL (deflated, base64, URL-encoded)."""
    query = parse_qs(urlsplit(redirect_url).query)
    return zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()


# --- string surgery for the forgery cases: the signed bytes must survive exactly as an attacker keeps them
ASSERTION_OPEN = "<ns1:Assertion "
ASSERTION_CLOSE = "</ns1:Assertion>"


def assertion_span(xml: str) -> tuple[int, int]:
    """Where the (first) Assertion element starts and ends in a pysaml2-serialised Response."""
    start = xml.index(ASSERTION_OPEN)
    return start, xml.index(ASSERTION_CLOSE, start) + len(ASSERTION_CLOSE)


def forged_assertion(signed: str, *, email: str, new_id: str | None = None) -> str:
    """An attacker's copy of a signed Assertion: its Signature removed, the subject changed."""
    sig_start = signed.find("<ns2:Signature")
    if sig_start >= 0:
        signed = signed[:sig_start] + signed[signed.index("</ns2:Signature>") + len("</ns2:Signature>") :]
    forged = signed.replace("ada@example.test", email)
    if new_id is not None:
        start = forged.index('ID="') + 4
        forged = forged[:start] + new_id + forged[forged.index('"', start) :]
    return forged


SP_ENTITY = "https://stitchd.example.test/saml/sp"
ACS_URL = "https://stitchd.example.test/v1/auth/saml/acs"


class SamlRig:
    """Our SP (gateway.saml.protocol) and a real pysaml2 IdP that trust each other's metadata."""

    def __init__(self, folder: Path, *, acs_url: str = ACS_URL, entity_id: str = SP_ENTITY) -> None:
        from gateway.saml.protocol import ServiceProvider, sp_metadata_xml

        self.idp = SamlIdp(folder)
        self.sp = ServiceProvider(
            entity_id=entity_id, acs_url=acs_url, idp_metadata_xml=self.idp.metadata_xml()
        )
        self.idp.trust(sp_metadata_xml(self.sp))

    def start(self, relay_state: str = "relay-state") -> str:
        """Send an AuthnRequest through the IdP's parser; its id is the outstanding request."""
        from gateway.saml.protocol import authn_redirect

        redirect = authn_redirect(self.sp, relay_state)
        request, relay = self.idp.read_request(redirect.redirect_url)
        assert request.id == redirect.request_id
        assert relay == relay_state
        return redirect.request_id

    def respond(self, request_id: str, **kwargs: Any) -> str:
        return self.idp.issue(
            in_response_to=request_id, acs_url=self.sp.acs_url, sp_entity_id=self.sp.entity_id, **kwargs
        )

    def verify(self, saml_response_b64: str, request_id: str) -> Any:
        from gateway.saml.protocol import verify_response

        return verify_response(self.sp, saml_response_b64, request_id=request_id)
