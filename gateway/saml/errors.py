"""What can go wrong in a SAML login, by whose fault: the deployment, the provider's setup, or the response."""

from __future__ import annotations


class SamlError(Exception):
    """Base of every SAML failure; the text is for the log (never personal data), not for the client."""


class SamlUnavailable(SamlError):
    """This machine cannot verify XML signatures (the `xmlsec1` binary is missing)."""


class SamlConfigError(SamlError):
    """The provider's IdP metadata is unusable: unparsable, no IdP in it, more than one, no certificate."""


class SamlRejected(SamlError):
    """The SAMLResponse (or its RelayState) is refused: unsigned, forged, stale, not for us, replayed."""
