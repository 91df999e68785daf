"""The seed's proto3 JSON request messages decode to the same body as our shapes (gateway/bodies.py)."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bodies import decode_as
from gateway.errors import InvalidArgument
from schemas.http_event_definitions import CreateEventDefinitionBody, UpdateEventDefinitionBody
from schemas.http_experiments import CreateExperimentBody, TransitionBody, UpdateExperimentBody
from schemas.http_flags import CreateFlagBody, UpdateHashingBody
from schemas.http_identity import CreateEnvironmentBody, CreateSdkKeyBody, CreateUserBody
from schemas.http_segments import CreateSegmentBody, UpdateSegmentBody

ENV = UUID("00000000-0000-4000-8000-00000000e0e0")
EXPERIMENT = UUID("00000000-0000-4000-8000-0000000000e1")
PATH: dict[str, object] = {"env_id": ENV, "experiment_id": EXPERIMENT, "key": "checkout"}
OTHER = str(uuid4())


def decode(target: Any, body: Any, path: dict[str, object] = PATH) -> Any:
    return decode_as(target, json.dumps(body).encode(), path)


def same(target: Any, seed: Any, ours: Any, path: dict[str, object] = PATH) -> None:
    assert decode(target, seed, path) == decode(target, ours, path)


EXPERIMENT_BODY = {"name": "Checkout", "flag_key": "checkout", "variant_keys": ["off", "on"]}
LEAF = {"kind": "leaf", "attribute": {"context_type": "user", "name": "plan"}, "op": "eq", "value": "pro"}


def test_create_experiment_request_wrapper_and_flat_form_are_our_create() -> None:
    wrapped = {"experiment": {**EXPERIMENT_BODY, "environment_id": str(ENV)}}
    same(CreateExperimentBody, wrapped, EXPERIMENT_BODY)
    same(CreateExperimentBody, {**EXPERIMENT_BODY, "environment_id": str(ENV)}, EXPERIMENT_BODY)


def test_update_experiment_request_wrapper_is_our_update() -> None:
    ours = {"version": 3, "name": "Renamed"}
    seed = {"experiment": {**ours, "id": str(EXPERIMENT), "environment_id": str(ENV)}}
    same(UpdateExperimentBody, seed, ours)


def test_transition_request_with_its_ids_and_enum_name_is_our_transition() -> None:
    seed = {
        "environment_id": str(ENV),
        "experiment_id": str(EXPERIMENT),
        "new_status": "EXPERIMENT_STATUS_ACTIVE",
        "reason": "go",
        "version": 1,
    }
    same(TransitionBody, seed, {"new_status": "active", "reason": "go", "version": 1})


def test_update_flag_hashing_request_with_its_ids_is_our_hashing_body() -> None:
    ours = {"version": 2, "configs": [{"parameter_key": "org", "parameter_type": "user", "order": 1}]}
    same(UpdateHashingBody, {**ours, "environment_id": str(ENV), "flag_key": "checkout"}, ours)


def test_proto_enum_names_are_ours() -> None:
    same(
        CreateEventDefinitionBody,
        {"key": "m", "value_type": "METRIC_VALUE_TYPE_BOOL"},
        {"key": "m", "value_type": "bool"},
    )
    update = {"version": 1, "value_type": "METRIC_VALUE_TYPE_DOUBLE", "key": "checkout"}
    same(UpdateEventDefinitionBody, update, {"version": 1, "value_type": "double"})
    flag = {"key": "f", "variants": [{"key": "on", "value": True}]}
    same(CreateFlagBody, {**flag, "value_type": "FLAG_VALUE_TYPE_BOOL"}, {**flag, "value_type": "bool"})


def test_unspecified_enum_values_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="value_type"):
        decode(CreateEventDefinitionBody, {"key": "m", "value_type": "METRIC_VALUE_TYPE_UNSPECIFIED"})


def test_list_segment_message_without_kind_is_a_list_segment() -> None:
    seed = {"key": "beta", "context_type": "user", "included_keys": ["u1"], "excluded_keys": ["u2"]}
    decoded = decode(CreateSegmentBody, {**seed, "environment_id": str(ENV)})
    assert decoded == decode(CreateSegmentBody, {**seed, "kind": "list"})
    assert decoded.kind == "list"


def test_rule_segment_message_is_a_rule_segment_with_its_payload_as_condition() -> None:
    payload = base64.b64encode(json.dumps(LEAF).encode()).decode()
    seed = {"key": "pro", "context_type": "user", "rule_payload": payload}
    same(CreateSegmentBody, seed, {"key": "pro", "context_type": "user", "kind": "rule", "condition": LEAF})


def test_a_rule_payload_beside_a_condition_or_not_base64_is_refused() -> None:
    payload = base64.b64encode(json.dumps(LEAF).encode()).decode()
    with pytest.raises(InvalidArgument, match="not both"):
        decode(CreateSegmentBody, {"key": "pro", "rule_payload": payload, "condition": LEAF})
    with pytest.raises(InvalidArgument, match="rule_payload"):
        decode(CreateSegmentBody, {"key": "pro", "rule_payload": "AAAA"})


def test_an_explicit_kind_is_never_overridden_by_the_inference() -> None:
    """(The domain then refuses a list segment with a condition, or a rule segment without one.)"""
    assert decode(CreateSegmentBody, {"key": "s", "kind": "list", "condition": LEAF}).kind == "list"
    assert decode(CreateSegmentBody, {"key": "s", "kind": "rule"}).kind == "rule"


CONTRADICTIONS = [
    (CreateExperimentBody, {"experiment": {**EXPERIMENT_BODY, "environment_id": OTHER}}, "environment_id"),
    (CreateExperimentBody, {**EXPERIMENT_BODY, "environment_id": OTHER}, "environment_id"),
    (UpdateExperimentBody, {"experiment": {"version": 1, "id": OTHER}}, "id"),
    (TransitionBody, {"new_status": "PAUSED", "version": 1, "experiment_id": OTHER}, "experiment_id"),
    (UpdateHashingBody, {"version": 1, "configs": [], "flag_key": "other"}, "flag_key"),
    (CreateEventDefinitionBody, {"key": "m", "value_type": "int", "environment_id": OTHER}, "environment_id"),
    (UpdateEventDefinitionBody, {"version": 1, "key": "other"}, "key"),
    (CreateSegmentBody, {"key": "s", "environment_id": OTHER}, "environment_id"),
    (UpdateSegmentBody, {"version": 1, "key": "other"}, "key"),
]


@pytest.mark.parametrize(("target", "body", "field"), CONTRADICTIONS)
def test_an_id_contradicting_the_path_is_refused(target: Any, body: Any, field: str) -> None:
    with pytest.raises(InvalidArgument, match=f"`{field}`.*contradicts the path"):
        decode(target, body)


def test_management_ids_are_checked_against_their_path() -> None:
    project, env, org = uuid4(), uuid4(), uuid4()
    same(
        CreateEnvironmentBody,
        {"name": "p", "project_id": str(project)},
        {"name": "p"},
        {"project_id": project},
    )
    same(CreateSdkKeyBody, {"environment_id": str(env)}, {}, {"environment_id": env})
    user = {"email": "a@b.io", "password": "long enough"}
    same(CreateUserBody, {**user, "org_id": str(org)}, user, {"org_id": org})
    with pytest.raises(InvalidArgument, match="contradicts the path"):
        decode(CreateUserBody, {**user, "org_id": OTHER}, {"org_id": org})


def test_without_the_id_in_the_path_a_body_id_is_kept_for_the_route() -> None:
    """/v1/management/users has no org in its path: the route checks the body's org_id itself."""
    org = uuid4()
    decoded = decode(CreateUserBody, {"email": "a@b.io", "password": "long enough", "org_id": str(org)}, {})
    assert decoded.org_id == org


def test_the_wrapper_takes_no_sibling_fields() -> None:
    with pytest.raises(InvalidArgument, match="name"):
        decode(CreateExperimentBody, {"experiment": EXPERIMENT_BODY, "name": "x"})


# --- property: the seed's shape of any valid request decodes to what ours decodes to ----------------

keys = st.from_regex(r"\A[a-z][a-z0-9_-]{0,10}\Z")
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)
versions = st.integers(0, 2**63 - 1)

create_experiments = st.fixed_dictionaries(
    {"name": names, "flag_key": keys, "variant_keys": st.lists(keys, max_size=4)},
    optional={
        "description": names,
        "metric_keys": st.lists(keys, max_size=3),
        "traffic_allocation": st.floats(0, 1),
        "stats_interval_minutes": st.integers(1, 10080),
    },
)
update_experiments = st.fixed_dictionaries(
    {"version": versions}, optional={"name": names, "variant_keys": st.lists(keys, max_size=3)}
)
STATUSES = ["draft", "active", "paused", "concluded"]


def _with_ids(body: dict[str, Any], ids: dict[str, Any], include: list[bool]) -> dict[str, Any]:
    return {**body, **{k: v for (k, v), keep in zip(ids.items(), include, strict=False) if keep}}


@given(body=create_experiments, wrap=st.booleans(), include=st.lists(st.booleans(), min_size=1))
def test_any_create_experiment_decodes_the_same_in_the_seed_shape(
    body: dict[str, Any], wrap: bool, include: list[bool]
) -> None:
    seed = _with_ids(body, {"environment_id": str(ENV)}, include)
    same(CreateExperimentBody, {"experiment": seed} if wrap else seed, body)


@given(body=update_experiments, wrap=st.booleans(), include=st.lists(st.booleans(), min_size=2))
def test_any_update_experiment_decodes_the_same_in_the_seed_shape(
    body: dict[str, Any], wrap: bool, include: list[bool]
) -> None:
    seed = _with_ids(body, {"environment_id": str(ENV), "id": str(EXPERIMENT)}, include)
    same(UpdateExperimentBody, {"experiment": seed} if wrap else seed, body)


@given(
    status=st.sampled_from(STATUSES),
    version=versions,
    reason=names,
    include=st.lists(st.booleans(), min_size=2),
)
def test_any_transition_decodes_the_same_in_the_seed_shape(
    status: str, version: int, reason: str, include: list[bool]
) -> None:
    ours = {"new_status": status, "reason": reason, "version": version}
    ids = {"environment_id": str(ENV), "experiment_id": str(EXPERIMENT)}
    seed = _with_ids({**ours, "new_status": f"EXPERIMENT_STATUS_{status.upper()}"}, ids, include)
    same(TransitionBody, seed, ours)


@given(
    key=keys,
    value_type=st.sampled_from(["bool", "int", "double"]),
    description=names,
    include=st.lists(st.booleans(), min_size=1),
)
def test_any_event_definition_decodes_the_same_in_the_seed_shape(
    key: str, value_type: str, description: str, include: list[bool]
) -> None:
    ours = {"key": key, "value_type": value_type, "description": description}
    proto_name = f"METRIC_VALUE_TYPE_{value_type.upper()}"
    seed = _with_ids({**ours, "value_type": proto_name}, {"environment_id": str(ENV)}, include)
    same(CreateEventDefinitionBody, seed, ours)


@given(
    configs=st.lists(
        st.fixed_dictionaries({"parameter_key": keys, "parameter_type": keys, "order": st.integers(0, 9)}),
        max_size=3,
    ),
    version=versions,
    include=st.lists(st.booleans(), min_size=2),
)
def test_any_hashing_update_decodes_the_same_in_the_seed_shape(
    configs: list[dict[str, Any]], version: int, include: list[bool]
) -> None:
    ours = {"configs": configs, "version": version}
    same(
        UpdateHashingBody,
        _with_ids(ours, {"environment_id": str(ENV), "flag_key": "checkout"}, include),
        ours,
    )


@given(
    key=keys,
    included=st.lists(keys, max_size=4),
    excluded=st.lists(keys, max_size=4),
    context_type=keys,
)
def test_any_list_segment_decodes_the_same_without_its_kind(
    key: str, included: list[str], excluded: list[str], context_type: str
) -> None:
    seed = {"key": key, "context_type": context_type, "included_keys": included, "excluded_keys": excluded}
    same(CreateSegmentBody, seed, {**seed, "kind": "list"})


def _payload(condition: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(condition).encode()).decode()


def test_mutate_segment_request_creates_what_our_create_creates() -> None:
    listed = {"key": "beta", "context_type": "user", "included_keys": ["u1"]}
    seed = {"environment_id": str(ENV), "kind": "SEGMENT_MUTATION_KIND_CREATE", "list_segment": listed}
    same(CreateSegmentBody, seed, {**listed, "kind": "list"})
    rule = {"key": "pro", "rule_payload": _payload(LEAF)}
    same(CreateSegmentBody, {"rule_segment": rule}, {"key": "pro", "kind": "rule", "condition": LEAF})
    with pytest.raises(InvalidArgument, match="exactly one"):
        decode(CreateSegmentBody, {"rule_segment": rule, "list_segment": listed})
    with pytest.raises(InvalidArgument, match="kind"):
        decode(CreateSegmentBody, {"kind": "SEGMENT_MUTATION_KIND_DELETE", "list_segment": listed})


def test_mutate_flag_request_creates_what_our_create_creates() -> None:
    variants = [{"key": "off", "value": {"bool_value": False}}, {"key": "on", "value": {"bool_value": True}}]
    rules = [{"rule_payload": _payload(LEAF), "variant_key": "on", "rule_id": "pro"}, {"variant_key": "off"}]
    flag = {"key": "f", "value_type": "FLAG_VALUE_TYPE_BOOL", "enabled": True, "variants": variants}
    seed = {"environment_id": str(ENV), "kind": "MUTATION_KIND_CREATE", "flag": {**flag, "rules": rules}}
    ours = {
        "key": "f", "value_type": "bool", "enabled": True,
        "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
        "rules": [{"id": "pro", "condition": LEAF, "serve": {"variant_key": "on"}}],
        "fallthrough": {"variant_key": "off"},
    }  # fmt: skip
    same(CreateFlagBody, seed, ours)
    json_variant = {"key": "a", "value": {"json_value": '{"x": [1]}'}}
    json_flag = {"key": "j", "value_type": "FLAG_VALUE_TYPE_JSON", "variants": [json_variant]}
    assert decode(CreateFlagBody, {"flag": json_flag}).variants[0].value == {"x": [1]}
    with pytest.raises(InvalidArgument, match="contradicts the path"):
        decode(CreateFlagBody, {**seed, "environment_id": OTHER})
    with pytest.raises(InvalidArgument, match="exactly one"):
        decode(CreateFlagBody, {"flag": {**flag, "variants": [{"key": "on", "value": {}}]}})
