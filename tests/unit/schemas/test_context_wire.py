"""Contexts cross the wire unchanged; the wire's extra cases map onto the domain's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from domain.context import Context, ContextSet
from schemas.context_wire import (
    context_from_proto,
    context_set_from_proto,
    context_set_to_proto,
    context_to_proto,
)
from schemas.generated.stitchd.common.v1 import Context as ContextMsg
from schemas.generated.stitchd.common.v1 import ParameterValue
from schemas.generated.stitchd.flags.v1 import SyncRequest
from schemas.wire import WireFormatError
from tests.strategies import WIDE, context_sets, contexts


@settings(max_examples=100)
@given(ctx=contexts(WIDE))
def test_a_context_survives_the_wire(ctx: Context) -> None:
    wire = bytes(context_to_proto(ctx))
    assert context_from_proto(ContextMsg().parse(wire)) == ctx


@settings(max_examples=50)
@given(contexts_=context_sets(WIDE))
def test_a_context_set_survives_a_sync_request(contexts_: ContextSet) -> None:
    wire = bytes(SyncRequest(contexts=context_set_to_proto(contexts_)))
    assert context_set_from_proto(SyncRequest().parse(wire).contexts) == contexts_


def test_false_and_zero_keep_their_types() -> None:
    ctx = Context(
        context_type="user", key="u", parameters={"beta": False, "age": 0, "score": 0.0, "name": ""}
    )
    decoded = context_from_proto(ContextMsg().parse(bytes(context_to_proto(ctx))))
    assert [type(decoded.parameters[n]) for n in ("beta", "age", "score", "name")] == [bool, int, float, str]


def test_a_semver_arrives_as_a_string_and_an_unset_value_as_missing() -> None:
    msg = ContextMsg("user", "u", {"app": ParameterValue(semver_value="1.2.3"), "blank": ParameterValue()})
    assert context_from_proto(ContextMsg().parse(bytes(msg))).parameters == {"app": "1.2.3"}


def test_an_integer_beyond_int64_is_refused() -> None:
    with pytest.raises(WireFormatError, match="huge"):
        context_to_proto(Context(context_type="user", key="u", parameters={"huge": 2**63}))
