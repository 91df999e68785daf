"""OFREP's rules: context mapping, the bulk ETag, If-None-Match, answers for every result kind."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.context import ContextSet
from domain.flags.model import ErrorCode, EvaluationResult, Reason
from domain.openfeature_context import ContextError, ContextRefused, to_context_set
from gateway.evaluate import install_definitions
from gateway.ofrep_answers import answer, bulk_etag, config_sequence, matches, ofrep_reason
from readmodels.definitions import DefinitionsCache
from tests.conformance.ofrep_schema import validate

names = st.text(min_size=1, max_size=8).filter(
    lambda n: n not in {"targetingKey", "kind", "privateAttributes"}
)
scalars = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
attributes = st.dictionaries(names, scalars, max_size=5)
keys = st.text(min_size=1, max_size=12)


@given(key=keys, attrs=attributes, kind=st.sampled_from(["user", "org", "device"]))
def test_one_context_maps_key_kind_and_every_scalar_attribute(
    key: str, attrs: dict[str, Any], kind: str
) -> None:
    [context] = to_context_set({"targetingKey": key, "kind": kind, **attrs}).contexts
    assert (context.context_type, context.key, context.parameters) == (kind, key, attrs)


@given(user=keys, org=keys, attrs=attributes)
def test_multi_kind_maps_each_nested_context(user: str, org: str, attrs: dict[str, Any]) -> None:
    context = {
        "kind": "multi",
        "targetingKey": "x",
        "user": {"targetingKey": user, **attrs},
        "org": {"targetingKey": org},
    }
    mapped = to_context_set(context)
    assert [(c.context_type, c.key) for c in mapped.contexts] == [("user", user), ("org", org)]
    assert mapped.contexts[0].parameters == attrs


@given(key=keys, attrs=attributes, other=attributes)
def test_the_etag_is_equal_exactly_when_sequence_and_mapped_context_are(
    key: str, attrs: dict[str, Any], other: dict[str, Any]
) -> None:
    env = UUID(int=1)
    a = to_context_set({"targetingKey": key, **attrs})
    b = to_context_set({"targetingKey": key, **other})
    reordered = to_context_set({"targetingKey": key, **dict(reversed(attrs.items()))})
    assert bulk_etag(env, 3, a) == bulk_etag(env, 3, reordered)
    assert (bulk_etag(env, 3, a) == bulk_etag(env, 3, b)) == _same(attrs, other)
    assert bulk_etag(env, 3, a) != bulk_etag(env, 4, a)
    assert bulk_etag(env, 3, a) != bulk_etag(UUID(int=2), 3, a)


def _same(left: dict[str, Any], right: dict[str, Any]) -> bool:
    return msgspec.json.encode(left, order="sorted") == msgspec.json.encode(right, order="sorted")


def test_private_attributes_are_used_but_marked() -> None:
    [context] = to_context_set({"targetingKey": "u", "email": "a@b", "privateAttributes": ["email"]}).contexts
    assert (context.parameters, context.private_parameters) == ({"email": "a@b"}, frozenset({"email"}))


@pytest.mark.parametrize(
    ("context", "code"),
    [
        (None, ContextError.TARGETING_KEY_MISSING),
        ({"targetingKey": None}, ContextError.TARGETING_KEY_MISSING),
        ({"targetingKey": "u", "nested": {"a": 1}}, ContextError.INVALID_CONTEXT),
        ({"targetingKey": "u", "privateAttributes": "email"}, ContextError.INVALID_CONTEXT),
        ({"kind": 3, "targetingKey": "u"}, ContextError.INVALID_CONTEXT),
        ({"kind": "multi", "user": {"plan": "x"}}, ContextError.TARGETING_KEY_MISSING),
    ],
)
def test_unmappable_contexts_are_refused_with_their_code(context: Any, code: ContextError) -> None:
    with pytest.raises(ContextRefused) as refused:
        to_context_set(context)
    assert refused.value.code is code


def test_null_attributes_are_absent() -> None:
    assert to_context_set({"targetingKey": "u", "plan": None}) == ContextSet.single("user", "u")


@pytest.mark.parametrize(
    ("header", "hit"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"x"', False),
        ("", False),
        (None, False),
    ],
)
def test_if_none_match_uses_weak_comparison_over_a_list(header: str | None, hit: bool) -> None:
    assert matches(header, '"abc"') is hit


def test_flag_config_etag_names_a_sequence_only_when_it_is_one() -> None:
    assert [config_sequence(v) for v in ("12", '"12"', "x", None, "9" * 30)] == [12, 12, None, None, None]


@pytest.mark.parametrize(
    ("reason", "has_rules", "ofrep"),
    [
        (Reason.DEFAULT, False, "STATIC"),
        (Reason.DEFAULT, True, "UNKNOWN"),
        (Reason.TARGETING_MATCH, True, "TARGETING_MATCH"),
        (Reason.SPLIT, False, "SPLIT"),
        (Reason.DISABLED, True, "DISABLED"),
    ],
)
def test_reason_mapping(reason: Reason, has_rules: bool, ofrep: str) -> None:
    result = EvaluationResult(flag_key="f", value=True, variant_key="on", reason=reason)
    assert ofrep_reason(result, has_rules) == ofrep


def test_an_evaluation_error_is_a_general_failure_in_the_ofrep_shape() -> None:
    broken = EvaluationResult(flag_key="f", value=None, variant_key=None, reason=Reason.ERROR,
                              error_code=ErrorCode.TYPE_MISMATCH)  # fmt: skip
    body = answer(broken, False)
    validate("evaluationFailure", body)
    assert body["errorCode"] == "GENERAL"


class _BrokenFlags(DefinitionsCache):
    """A cache whose one key opens one environment whose every flag fails to evaluate (GENERAL)."""

    env = UUID(int=7)

    def key_owner(self, raw_key: str) -> tuple[UUID, UUID] | None:
        return (self.env, self.env) if raw_key == "sdk-good" else None

    async def resolve_key(self, raw_key: str, log: object) -> tuple[UUID, UUID] | None:
        return self.key_owner(raw_key)

    def evaluate(self, environment_id: UUID, flag_key: str, contexts: ContextSet) -> EvaluationResult:
        return EvaluationResult(flag_key=flag_key, value=None, variant_key=None, reason=Reason.ERROR,
                                error_code=ErrorCode.GENERAL)  # fmt: skip


async def test_the_route_answers_general_failures_with_400() -> None:
    from gateway.app import create_app
    from stitchd.gateway_main import _offline_deps

    app = create_app(_offline_deps(), bootstrap=False)
    install_definitions(app, _BrokenFlags())
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answer = await client.post(
            "/ofrep/v1/evaluate/flags/f",
            json={"context": {"targetingKey": "u"}},
            headers={"X-API-Key": "sdk-good"},
        )
    assert answer.status_code == 400
    validate("evaluationFailure", answer.json())
    assert (answer.json()["key"], answer.json()["errorCode"]) == ("f", "GENERAL")


def test_the_served_spec_documents_the_ofrep_operations_and_their_statuses() -> None:
    from stitchd.gateway_main import openapi_document

    paths = openapi_document()["paths"]
    single = paths["/ofrep/v1/evaluate/flags/{key}"]["post"]
    bulk = paths["/ofrep/v1/evaluate/flags"]["post"]
    assert set(single["responses"]) == {"200", "400", "401", "404", "413", "429", "500", "503"}
    assert set(bulk["responses"]) == {"200", "304", "400", "401", "413", "429", "500", "503"}
    assert bulk["responses"]["200"]["headers"]["ETag"]["schema"] == {"type": "string"}
    assert {p["name"] for p in bulk["parameters"]} == {
        "If-None-Match",
        "flagConfigEtag",
        "flagConfigLastModified",
    }
    assert "/ofrep/v1/event-stream" in paths
