"""The SAMLResponse as it arrives, checked before any library sees it: bounded, base64, hardened XML.

Parsing goes through defusedxml with DTDs forbidden, so entity expansion ("billion laughs"), external
entities and external DTDs are refused outright. The shape is then held to what SP-initiated Web SSO
needs: one `samlp:Response` root holding exactly one plain `saml:Assertion` as a direct child, no
other `Assertion` or `Response` anywhere in the document, and SHA-2 signature and digest algorithms
only. An XML-signature-wrapping attack needs a
second copy of the signed element somewhere; this refuses every such document before signature
checks even run (pysaml2's own checks stay the primary defence, this is the second one).
"""

from __future__ import annotations

import base64
import binascii
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway.saml.errors import SamlRejected

SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
# SHA-2 only: SHA-1 has practical chosen-prefix collisions, MD5 worse. An IdP signing with them is refused.
ALLOWED_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024  # decoded XML; real responses are a few kilobytes
_WHITESPACE = str.maketrans("", "", " \t\r\n")


def decode_response(saml_response_b64: str, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> bytes:
    """The XML of a base64 SAMLResponse, refused unless small, well formed and of the one allowed shape."""
    compact = saml_response_b64.translate(_WHITESPACE)
    if len(compact) > (max_bytes * 4) // 3 + 4:
        raise SamlRejected("SAMLResponse too large")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlRejected("SAMLResponse is not base64") from exc
    if len(raw) > max_bytes:
        raise SamlRejected("SAMLResponse too large")
    check_shape(_parse(raw))
    return raw


def _parse(raw: bytes) -> Element:
    try:
        root: Element = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise SamlRejected(f"SAMLResponse is not acceptable XML ({type(exc).__name__})") from exc
    return root


def check_shape(root: Element) -> None:
    """One Response, one Assertion directly under it, nothing encrypted, no nested copies."""
    if root.tag != f"{SAMLP}Response":
        raise SamlRejected("the document is not a samlp:Response")
    if sum(1 for _ in root.iter(f"{SAMLP}Response")) != 1:
        raise SamlRejected("more than one Response in the document")
    if any(True for _ in root.iter(f"{SAML}EncryptedAssertion")):
        raise SamlRejected("encrypted assertions are not supported")
    assertions = list(root.iter(f"{SAML}Assertion"))
    direct = root.findall(f"{SAML}Assertion")
    if len(assertions) != 1 or len(direct) != 1:
        raise SamlRejected(f"expected exactly one Assertion, found {len(assertions)}")
    check_algorithms(root)


def check_algorithms(root: Element) -> None:
    """Every signature and digest algorithm in the document is SHA-2 based."""
    for tag in ("SignatureMethod", "DigestMethod"):
        for method in root.iter(f"{DS}{tag}"):
            if method.get("Algorithm") not in ALLOWED_ALGORITHMS:
                raise SamlRejected(f"a weak or unknown {tag} is refused")
