"""Deterministic stream ids and key, name and email checks."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import BlankName, InvalidEmail, InvalidKey
from domain.ids import check_key, check_name, normalize_email, stream_id

parts = st.lists(st.text(max_size=8) | st.uuids() | st.integers(), max_size=3)


@given(st.text(max_size=8), parts)
def test_stream_ids_are_deterministic(kind: str, items: list[object]) -> None:
    assert stream_id(kind, *items) == stream_id(kind, *items)
    assert isinstance(stream_id(kind, *items), UUID)


@given(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8), st.text(max_size=8))
def test_different_parts_give_different_streams(a: str, b: str, c: str, d: str) -> None:
    if (a, b) != (c, d):
        assert stream_id("flag", a, b) != stream_id("flag", c, d)


def test_separators_inside_parts_cannot_collide() -> None:
    assert stream_id("segment", "a:b", "c") != stream_id("segment", "a", "b:c")
    assert stream_id("flag", "x") != stream_id("flag_config", "x")


def test_the_same_key_in_two_projects_is_two_streams() -> None:
    assert stream_id("flag", uuid4(), "checkout") != stream_id("flag", uuid4(), "checkout")


@pytest.mark.parametrize("key", ["a", "new-checkout", "v2.flag_x", "team:flag", "A" * 128])
def test_valid_keys_pass(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "-lead", "has space", "ünï", "a/b", "A" * 129])
def test_invalid_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)


def test_names_are_stripped_and_must_not_be_blank() -> None:
    assert check_name("  Acme ") == "Acme"
    with pytest.raises(BlankName):
        check_name("   ")
    with pytest.raises(BlankName):
        check_name("x" * 201)


def test_emails_are_normalised_and_checked() -> None:
    assert normalize_email(" Ann@Example.COM ") == "ann@example.com"
    for bad in ["", "ann", "ann@", "@example.com", "ann@localhost", "a nn@example.com"]:
        with pytest.raises(InvalidEmail):
            normalize_email(bad)
