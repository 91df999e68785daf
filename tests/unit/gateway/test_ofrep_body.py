"""The OFREP request body: the served JSON schema and the strict decoder accept exactly the same bodies."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.bodies import integral_floats_as_ints
from gateway.ofrep_body import Refused, contexts_of
from gateway.ofrep_request_schema import request_schema
from schemas.http_types import INT64_MAX, INT64_MIN

VALIDATOR = jsonschema.Draft202012Validator(request_schema())
NEAR_BOUNDS = ["x" * 4096, "x" * 4097, "k" * 512, "k" * 513, "t" * 256, "t" * 257]
names = st.one_of(
    st.sampled_from(["targetingKey", "kind", "privateAttributes", "", "a", "multi", "user", "t" * 257]),
    st.text(max_size=3),
)
values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.sampled_from(NEAR_BOUNDS),
    st.none(),
    st.sampled_from(["multi", "user"]),
    st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=2),
)
scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3), st.none())
plausible: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"targetingKey": st.text(min_size=1, max_size=3)},
    optional={"kind": st.sampled_from(["org", "multi", None]), "privateAttributes": st.just([])},
).flatmap(lambda d: st.dictionaries(st.text(max_size=2), scalars, max_size=2).map(lambda a: {**a, **d}))
leaf = st.one_of(st.dictionaries(names, values, max_size=4), plausible)
multi = st.dictionaries(names, st.one_of(values, leaf), max_size=4).map(lambda d: {**d, "kind": "multi"})
bodies = st.one_of(
    st.fixed_dictionaries({"context": st.one_of(leaf, multi, values)}),
    st.fixed_dictionaries({"context": st.one_of(leaf, multi)}, optional={"other": values}),
    values,
    st.dictionaries(names, values, max_size=2),
)


def accepted(body: Any) -> bool:
    try:
        contexts_of(json.dumps(body).encode())
    except Refused:
        return False
    return True


@settings(max_examples=600)
@given(body=bodies)
def test_the_schema_states_exactly_what_the_decoder_accepts(body: Any) -> None:
    assert VALIDATOR.is_valid(body) == accepted(body), body


def _attributes(count: int) -> dict[str, Any]:
    return {f"a{i}": None if i % 2 else i for i in range(count)}


@pytest.mark.parametrize(
    "context",
    [
        {"targetingKey": "u", **_attributes(256)},
        {"targetingKey": "u", **_attributes(257)},
        {"targetingKey": "u", "kind": "org", "privateAttributes": None, **_attributes(256)},
        {"targetingKey": "u", "kind": "org", "privateAttributes": None, **_attributes(257)},
        {"kind": "multi", **{f"k{i}": {"targetingKey": "u"} for i in range(16)}},
        {"kind": "multi", **{f"k{i}": {"targetingKey": "u"} for i in range(17)}},
        {"kind": "multi", "targetingKey": "g", "privateAttributes": [], "user": {"targetingKey": "u"}},
        {"kind": "multi", "targetingKey": "g", "privateAttributes": []},
        {"kind": "multi", "user": {"targetingKey": "u", **_attributes(257)}},
        {"kind": "multi", "user": None, "org": {"targetingKey": "o"}},
    ],
)
def test_counts_at_their_bounds_agree(context: dict[str, Any]) -> None:
    body = {"context": context}
    assert VALIDATOR.is_valid(body) == accepted(body)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_only_integral_floats_within_int64_become_ints(value: float) -> None:
    converted = integral_floats_as_ints(value)
    within = value.is_integer() and INT64_MIN <= value <= INT64_MAX
    assert isinstance(converted, int) == within
    assert converted == value


def test_a_huge_integral_float_attribute_is_evaluated_as_a_number() -> None:
    [context] = contexts_of(b'{"context": {"targetingKey": "u", "n": 1.7976931348623155e308}}').contexts
    assert context.parameters == {"n": 1.7976931348623155e308}
