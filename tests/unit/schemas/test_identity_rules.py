"""The JSON Schema rules of the identity bodies say exactly what the domain and the auth area accept."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from domain.errors import BlankName, InvalidEmail
from domain.ids import check_name, normalize_email
from gateway.auth.passwords import password_problem
from schemas.http_identity import EMAIL_REGEX, NAME_REGEX

# Letters of every role in the rules: blanks, invisible characters, the separators, a case changer.
TRICKY = st.sampled_from(list("ab.@ \t\n\u00a0\u200b\u2060\ufeff\u3000\u2028xİ"))
EMAIL, NAME = re.compile(EMAIL_REGEX), re.compile(NAME_REGEX)


def _accepted(check: object, text: str, error: type[Exception]) -> bool:
    try:
        check(text)  # type: ignore[operator]
    except error:
        return False
    return True


@given(st.text(TRICKY, max_size=14) | st.text(max_size=14))
def test_the_email_pattern_is_the_domains_email_rule(text: str) -> None:
    assert bool(EMAIL.search(text)) == _accepted(normalize_email, text, InvalidEmail)


@given(st.text(TRICKY, min_size=1, max_size=14) | st.text(min_size=1, max_size=14))
def test_the_name_pattern_is_the_domains_name_rule(text: str) -> None:
    assert bool(NAME.search(text)) == _accepted(check_name, text, BlankName)


@given(st.text(max_size=12))
def test_new_passwords_of_8_to_1024_characters_are_the_password_rule(password: str) -> None:
    assert (password_problem(password) is None) == (8 <= len(password) <= 1024)
