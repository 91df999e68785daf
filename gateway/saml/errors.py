"""What can go wrong in a SAML login, by whose fault: the deployment, the provider's setup, the response."""

from __future__ import annotations


class SamlError(Exception):
    """Base of every SAML failure; the text is for the log (never personal data), not for the client."""


class SamlUnavailable(SamlError):  # noqa: N818 - a state, like the gRPC status names
    """This machine cannot verify XML signatures (the `xmlsec1` binary is missing)."""


class SamlConfigError(SamlError):
    """The provider's IdP metadata is unusable: unparsable, no IdP in it, more than one, no certificate."""


class SamlRejected(SamlError):  # noqa: N818 - a verdict, like the gRPC status names
    """The SAMLResponse (or its RelayState) is refused: unsigned, forged, stale, not for us, replayed."""
