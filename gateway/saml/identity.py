"""The identity a verified assertion asserts: NameID, email, name, groups, read from its attributes.

Attribute names differ between IdPs, so each field accepts the common spellings (the short name, the
LDAP OID of the urn:oid name format, and the WS-Federation claim URI that ADFS and Entra ID send); the
first one present wins. When no email attribute is present and the NameID format is emailAddress, the
NameID is the email. `email_verified` is only what the IdP says in an explicit `email_verified`
attribute ("true"/"false"; None when absent): what that means for linking is the caller's rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
EMAIL_NAMES = (
    "email",
    "mail",
    "emailAddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
)
NAME_NAMES = (
    "displayName",
    "name",
    "cn",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "urn:oid:2.5.4.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)
GROUP_NAMES = (
    "groups",
    "memberOf",
    "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
)
VERIFIED_NAMES = ("email_verified",)
MAX_GROUPS = 256
MAX_VALUE_CHARS = 512


class SamlIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Who the IdP says logged in, from a response whose signature and conditions were checked."""

    issuer: str
    name_id: str
    name_id_format: str
    email: str  # "" when the IdP asserted none
    email_verified_attribute: bool | None  # the IdP's explicit `email_verified`, None when absent
    name: str
    groups: tuple[str, ...]
    assertion_id: str
    not_on_or_after: datetime  # the assertion is worthless after this (replay cache keeps its id so long)


def attribute_values(assertion: Any) -> dict[str, list[str]]:
    """Every attribute of the assertion by name (and by friendly name), values as stripped texts."""
    values: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or ():
        for attribute in statement.attribute or ():
            texts = [_text(v) for v in attribute.attribute_value or ()]
            texts = [t for t in texts if t]
            for key in (attribute.name, attribute.friendly_name):
                if key:
                    values.setdefault(str(key), []).extend(texts)
    return values


def _text(value: Any) -> str:
    return str(value.text or "").strip()[:MAX_VALUE_CHARS]


def first(values: Mapping[str, Sequence[str]], names: Sequence[str]) -> str:
    """The first value of the first attribute present among `names`; "" when none is."""
    for name in names:
        if values.get(name):
            return values[name][0]
    return ""


def groups_of(values: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every group named in any group attribute, deduplicated in order, bounded."""
    seen: dict[str, None] = {}
    for name in GROUP_NAMES:
        for group in values.get(name, ()):
            seen.setdefault(group, None)
    return tuple(seen)[:MAX_GROUPS]


def verified_flag(values: Mapping[str, Sequence[str]]) -> bool | None:
    """An explicit `email_verified` attribute as a bool; None when absent or not a boolean word."""
    word = first(values, VERIFIED_NAMES).lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(word)


def email_of(values: Mapping[str, Sequence[str]], name_id: str, name_id_format: str) -> str:
    """The asserted email, lower-cased: an email attribute, else an emailAddress NameID, else ""."""
    email = first(values, EMAIL_NAMES) or (name_id if name_id_format == NAMEID_EMAIL else "")
    return email.strip().lower() if "@" in email else ""
