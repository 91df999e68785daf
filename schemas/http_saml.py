"""HTTP bodies of the SAML login routes (issue 13 part 3), after the seed's saml_login messages
(SamlSsoRequest / SamlSsoResponse / SamlAcsRequest; SamlAcsResponse is the login's TokenReply)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec

from schemas.http_body import Body
from schemas.http_identity import Reply

# A decoded SAMLResponse is bounded by STITCHD_SAML_MAX_RESPONSE_BYTES; this is the transport bound.
SamlResponseB64 = Annotated[str, msgspec.Meta(min_length=1, max_length=1_048_576)]
RelayState = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
AcsUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class SamlSsoBody(Body, frozen=True, kw_only=True):
    """Start a SAML login with this provider (`org_id`: only if it is that organisation's)."""

    provider_id: UUID
    org_id: UUID | None = None
    acs_url: AcsUrl | None = None  # when given, must be the provider's ACS URL (its acs_url field)


class SamlSsoReply(Reply, frozen=True, kw_only=True):
    redirect_url: str  # the IdP's SSO URL with the deflated, base64, URL-encoded SAMLRequest
    relay_state: str  # the RelayState the IdP returns with its response (also in the URL)


class SamlAcsBody(Body, frozen=True, kw_only=True):
    """The seed's SamlAcsRequest: a SAMLResponse relayed as JSON (e.g. by a login page)."""

    provider_id: UUID
    saml_response_b64: SamlResponseB64
    relay_state: RelayState


class SamlPostForm(
    Body,
    frozen=True,
    kw_only=True,
    rename={"saml_response": "SAMLResponse", "relay_state": "RelayState"},
):
    """The HTTP-POST binding: the form the IdP makes the browser post to the ACS URL."""

    saml_response: SamlResponseB64
    relay_state: RelayState
