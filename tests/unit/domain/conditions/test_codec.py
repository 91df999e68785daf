"""The JSON encoding of conditions (rule_payload): exact round-trips, a frozen format, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from domain.conditions.ast import And, Attribute, Condition, Leaf, Not, Op, Or
from domain.conditions.codec import (
    MAX_PAYLOAD_BYTES,
    ConditionError,
    decode_condition,
    encode_condition,
    validate_condition,
)
from tests.strategies import MATCHING, conditions

COUNTRY = Attribute("user", "country")


@settings(deadline=None)
@given(conditions(MATCHING))
def test_decode_inverts_encode(condition: Condition) -> None:
    assert decode_condition(encode_condition(condition)) == condition


def test_encoding_is_frozen() -> None:
    condition = And(
        (
            Leaf(COUNTRY, Op.EQ, "US"),
            Or((Leaf(Attribute("org"), Op.IN, ("a", 1, 2.5, True)), Not(Leaf(COUNTRY, Op.EXISTS)))),
        )
    )
    assert encode_condition(condition) == (
        b'{"kind":"and","children":[{"kind":"leaf","attribute":{"context_type":"user","name":"country"},'
        b'"op":"eq","value":"US"},{"kind":"or","children":[{"kind":"leaf","attribute":{"context_type":'
        b'"org","name":null},"op":"in","value":["a",1,2.5,true]},{"kind":"not","child":{"kind":"leaf",'
        b'"attribute":{"context_type":"user","name":"country"},"op":"exists","value":null}}]}]}'
    )


def _leaf_json(op: str, value: str) -> bytes:
    head = '{"kind":"leaf","attribute":{"context_type":"user","name":"x"}'
    return f'{head},"op":"{op}","value":{value}}}'.encode()


@pytest.mark.parametrize(
    ("payload", "path", "fragment"),
    [
        (_leaf_json("approx", '"a"'), "/op", "Invalid enum value"),
        (b'{"kind":"xor","children":[]}', "/kind", "Invalid value"),
        (b'{"kind":"not","child":' + _leaf_json("in", '"US"') + b"}", "/child/value", "needs a list"),
        (
            b'{"kind":"and","children":[' + _leaf_json("gt", '"5"') + b"]}",
            "/children/0/value",
            "needs a number",
        ),
        (_leaf_json("lt", "true"), "/value", "needs a number"),
        (_leaf_json("semver_gt", '"v1.2"'), "/value", "semver"),
        (_leaf_json("before", '"yesterday"'), "/value", "ISO-8601"),
        (_leaf_json("matches", '"(?=a)"'), "/value", "invalid perl operator"),
        (_leaf_json("matches", '"(a)\\\\1"'), "/value", "backreferences"),
        (_leaf_json("matches", '"(unclosed"'), "/value", "invalid pattern"),
        (_leaf_json("contains", "[]"), "/value", "non-empty list of strings"),
        (_leaf_json("contains", "7"), "/value", "string"),
        (_leaf_json("exists", '"x"'), "/value", "takes no value"),
        (_leaf_json("in_segment", '""'), "/value", "segment key"),
        (_leaf_json("eq", "[1]"), "/value", "single value"),
        (_leaf_json("eq", "123456789012345678901234567890"), "/value", "64 bits"),
        (
            b'{"kind":"leaf","attribute":{"context_type":""},"op":"exists"}',
            "/attribute/context_type",
            "non-empty",
        ),
        (
            b'{"kind":"leaf","attribute":{"context_type":"u","name":""},"op":"exists"}',
            "/attribute/name",
            "non-empty",
        ),
        (b'{"kind":"leaf","op":"exists"}', "", "missing required field `attribute`"),
        (b"{", "", "malformed JSON"),
        (b"[]", "", "Expected `object`"),
    ],
)
def test_malformed_payloads_name_the_problem_and_its_path(payload: bytes, path: str, fragment: str) -> None:
    with pytest.raises(ConditionError) as caught:
        decode_condition(payload)
    assert caught.value.path == path
    assert fragment in caught.value.message


def _nested(depth: int) -> Condition:
    condition: Condition = Leaf(COUNTRY, Op.EXISTS)
    for _ in range(depth - 1):
        condition = Not(condition)
    return condition


def test_depth_is_limited_without_exhausting_the_stack() -> None:
    assert decode_condition(encode_condition(_nested(32))) == _nested(32)
    with pytest.raises(ConditionError, match="deeper"):
        validate_condition(_nested(33))
    with pytest.raises(ConditionError, match="deeper"):
        decode_condition(b'{"kind":"not","child":' * 5000 + b"{}" + b"}" * 5000)


def test_size_is_limited() -> None:
    wide = Or(tuple(Leaf(COUNTRY, Op.EQ, str(i)) for i in range(2001)))
    with pytest.raises(ConditionError, match="nodes"):
        validate_condition(wide)
    with pytest.raises(ConditionError, match="larger than"):
        decode_condition(b" " * (MAX_PAYLOAD_BYTES + 1))


def test_encode_refuses_what_decode_would_refuse() -> None:
    with pytest.raises(ConditionError, match="finite"):
        encode_condition(Leaf(COUNTRY, Op.EQ, float("nan")))
