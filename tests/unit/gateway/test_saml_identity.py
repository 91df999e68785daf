"""Which attribute gives which identity field (gateway.saml.identity): the documented rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.saml.identity import (
    GROUP_NAMES,
    MAX_GROUPS,
    NAMEID_EMAIL,
    email_of,
    groups_of,
    verified_flag,
)

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def test_an_email_attribute_wins_over_the_name_id() -> None:
    assert email_of({"mail": ["Bob@X.test"]}, "ada@x.test", NAMEID_EMAIL) == "bob@x.test"


def test_an_email_name_id_is_the_email_when_no_attribute_says_otherwise() -> None:
    assert email_of({}, "Ada@X.test", NAMEID_EMAIL) == "ada@x.test"


def test_an_opaque_name_id_is_never_an_email() -> None:
    assert email_of({}, "ada@x.test", PERSISTENT) == ""


def test_an_attribute_without_at_sign_is_no_email() -> None:
    assert email_of({"email": ["not-an-address"]}, "x", PERSISTENT) == ""


def test_the_entra_claim_uri_names_the_email() -> None:
    claim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
    assert email_of({claim: ["c@x.test"]}, "x", PERSISTENT) == "c@x.test"


def test_email_verified_reads_boolean_words_only() -> None:
    assert verified_flag({"email_verified": ["TRUE"]}) is True
    assert verified_flag({"email_verified": ["0"]}) is False
    assert verified_flag({"email_verified": ["yes please"]}) is None
    assert verified_flag({}) is None


@given(st.dictionaries(st.sampled_from(GROUP_NAMES), st.lists(st.text(max_size=5), max_size=300)))
def test_groups_are_unique_ordered_and_bounded(values: dict[str, list[str]]) -> None:
    groups = groups_of(values)
    assert len(groups) == len(set(groups)) <= MAX_GROUPS
    every = [g for name in GROUP_NAMES for g in values.get(name, [])]
    assert list(groups) == list(dict.fromkeys(every))[:MAX_GROUPS]
