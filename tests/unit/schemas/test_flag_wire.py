"""Flags and segments cross the definition-sync wire unchanged (`schemas.flag_wire`)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest
from hypothesis import given, settings

pytest.importorskip("domain.conditions.codec", reason="condition codec not written yet")

from domain.conditions.ast import ALWAYS, Attribute, Leaf, Op
from domain.conditions.codec import encode_condition
from domain.flags.model import (
    FlagConfig,
    FlagDefinition,
    ListSegmentMeta,
    RuleSegment,
    Serve,
    ValueType,
    Variant,
)
from schemas.flag_wire import (
    flag_from_proto,
    flag_to_proto,
    list_segment_meta_from_proto,
    list_segment_meta_to_proto,
    rule_segment_from_proto,
    rule_segment_to_proto,
)
from schemas.generated.stitchd.flags.v1 import FeatureFlag, FlagRule, FlagValueType, SyncResponse
from schemas.generated.stitchd.segments.v1 import ListSegmentMeta as ListSegmentMetaMsg
from schemas.generated.stitchd.segments.v1 import RuleSegment as RuleSegmentMsg
from schemas.wire import WireFormatError
from tests.strategies import WIDE, flag_definitions, list_segment_metas, rule_segments

PROJECT = UUID("0b0c5a43-1f4e-4c59-9d1c-6f7c6e0e7a11")
ENV = UUID("c1b5d8f2-6a47-4b7e-9f64-2b9c6d1f0e22")


def _flag(value_type: ValueType, *values: object, fallthrough: Serve | None = None) -> FlagDefinition:
    variants = tuple(Variant(key=f"v{i}", value=v) for i, v in enumerate(values))  # type: ignore[arg-type]
    config = FlagConfig(off_variant="v0", fallthrough=fallthrough or Serve(variant_key="v0"))
    return FlagDefinition(
        key="f",
        project_id=PROJECT,
        environment_id=ENV,
        value_type=value_type,
        variants=variants,
        config=config,
    )


@settings(max_examples=60, deadline=None)
@given(defn=flag_definitions(WIDE))
def test_a_flag_survives_conversion(defn: FlagDefinition) -> None:
    assert flag_from_proto(flag_to_proto(defn)) == defn


@settings(max_examples=100, deadline=None)
@given(defn=flag_definitions(WIDE))
def test_a_flag_survives_the_wire(defn: FlagDefinition) -> None:
    wire = bytes(SyncResponse(flags=[flag_to_proto(defn)]))
    (decoded,) = SyncResponse().parse(wire).flags
    assert flag_from_proto(decoded) == defn


@settings(max_examples=60, deadline=None)
@given(segment=rule_segments)
def test_a_rule_segment_survives_the_wire(segment: RuleSegment) -> None:
    wire = bytes(rule_segment_to_proto(segment))
    assert rule_segment_from_proto(RuleSegmentMsg().parse(wire)) == segment


@settings(max_examples=50)
@given(meta=list_segment_metas)
def test_a_list_segment_meta_survives_the_wire(meta: ListSegmentMeta) -> None:
    wire = bytes(list_segment_meta_to_proto(meta))
    assert list_segment_meta_from_proto(ListSegmentMetaMsg().parse(wire)) == meta


def test_false_and_zero_variant_values_keep_their_types() -> None:
    for value_type, value in [(ValueType.BOOL, False), (ValueType.INT, 0), (ValueType.STRING, "")]:
        decoded = flag_from_proto(FeatureFlag().parse(bytes(flag_to_proto(_flag(value_type, value)))))
        assert type(decoded.variants[0].value) is type(value)


def test_a_json_string_stays_json_and_a_whole_double_stays_a_double() -> None:
    as_json = flag_to_proto(_flag(ValueType.JSON, "text", None))
    assert [v.value.json_value for v in as_json.variants] == ['"text"', "null"]
    as_double = flag_from_proto(flag_to_proto(_flag(ValueType.DOUBLE, 2)))
    assert type(as_double.variants[0].value) is float


@pytest.mark.parametrize(
    ("value_type", "value"),
    [(ValueType.BOOL, 1), (ValueType.INT, True), (ValueType.INT, 2**63), (ValueType.STRING, 3)],
)
def test_a_value_that_does_not_fit_its_type_is_refused(value_type: ValueType, value: object) -> None:
    with pytest.raises(WireFormatError, match="does not fit"):
        flag_to_proto(_flag(value_type, value))


@pytest.mark.parametrize("value", [float("nan"), {"k": (1, 2)}, {1: "int key"}, object()])
def test_a_json_value_that_would_change_on_the_wire_is_refused(value: object) -> None:
    with pytest.raises(WireFormatError, match="JSON"):
        flag_to_proto(_flag(ValueType.JSON, value))


def test_a_condition_the_codec_refuses_is_refused_on_the_way_out() -> None:
    broken = Leaf(attribute=Attribute("user"), op=Op.EXISTS, value="unexpected")
    segment = RuleSegment(id=PROJECT, key="s", context_type="user", condition=broken)
    with pytest.raises(WireFormatError, match="invalid condition in segment 's'"):
        rule_segment_to_proto(segment)


def test_a_serve_needs_exactly_one_target() -> None:
    with pytest.raises(WireFormatError, match="exactly one"):
        flag_to_proto(_flag(ValueType.BOOL, True, fallthrough=Serve()))


def test_the_fallthrough_travels_outside_the_rules() -> None:
    msg = flag_to_proto(_flag(ValueType.BOOL, True, False, fallthrough=Serve(variant_key="v1")))
    assert msg.rules == []
    assert (msg.fallthrough.variant_key, msg.fallthrough.rule_payload) == ("v1", b"")


def test_a_seed_era_flag_falls_back_to_its_last_rule() -> None:
    beta = Leaf(attribute=Attribute("user"), op=Op.EQ, value="u-1")
    seed_style = FeatureFlag(
        key="f",
        value_type=FlagValueType.from_string("BOOL"),
        variants=flag_to_proto(_flag(ValueType.BOOL, True, False)).variants,
        rules=[
            FlagRule(rule_payload=encode_condition(beta), variant_key="v1", rule_id="r"),
            FlagRule(rule_payload=encode_condition(ALWAYS), variant_key="v0"),
        ],
        project_id=str(PROJECT),
        environment_id=str(ENV),
    )
    decoded = flag_from_proto(FeatureFlag().parse(bytes(seed_style)))
    assert [(r.id, r.condition) for r in decoded.config.rules] == [("r", beta)]
    assert decoded.config.fallthrough == Serve(variant_key="v0")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: setattr(m, "project_id", "not-a-uuid"), "not a UUID"),
        (lambda m: setattr(m, "value_type", 0), "unknown value type"),
        (lambda m: setattr(m, "fallthrough", FlagRule(variant_key="")), "exactly one"),
        (lambda m: m.rules.append(FlagRule(rule_payload=b"{not json", variant_key="v0")), "rule_payload"),
    ],
)
def test_a_message_breaking_the_contract_is_refused(
    mutate: Callable[[FeatureFlag], object], message: str
) -> None:
    msg = flag_to_proto(_flag(ValueType.BOOL, True))
    mutate(msg)
    with pytest.raises(WireFormatError, match=message):
        flag_from_proto(FeatureFlag().parse(bytes(msg)))
