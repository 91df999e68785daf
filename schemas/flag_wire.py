"""Convert flags and segments between the domain evaluation model and the definition-sync messages.

`*_to_proto` is used by the broadcaster, `*_from_proto` by the SDK; `x_from_proto(x_to_proto(v)) == v`
for every valid `v`. Conditions travel as `rule_payload`, the JSON encoding of `domain.conditions`.
Both directions raise `WireFormatError` for values the contract in `flag_sync.proto` cannot carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast
from uuid import UUID

import betterproto
import msgspec

from domain.conditions.ast import Condition
from domain.conditions.codec import ConditionError, decode_condition, encode_condition
from domain.flags.model import (
    Allocation,
    Bucket,
    FlagConfig,
    FlagDefinition,
    FlagValue,
    HashSpec,
    ListSegmentMeta,
    Rule,
    RuleSegment,
    Serve,
    ValueType,
    Variant,
)
from schemas.generated.stitchd.flags import v1 as flags_pb
from schemas.generated.stitchd.segments import v1 as segments_pb
from schemas.wire import INT64, WireFormatError

# The domain's value type names are the proto enum's (FLAG_VALUE_TYPE_ prefix stripped by betterproto).
VALUE_TYPES: Mapping[ValueType, flags_pb.FlagValueType] = {
    vt: flags_pb.FlagValueType.from_string(vt.name) for vt in ValueType
}
_VALUE_TYPES_BACK = {wire: domain for domain, wire in VALUE_TYPES.items()}
# The VariantValue member each value type travels in.
_VALUE_CASES: Mapping[ValueType, str] = {
    ValueType.BOOL: "bool_value",
    ValueType.INT: "int_value",
    ValueType.DOUBLE: "double_value",
    ValueType.STRING: "string_value",
    ValueType.JSON: "json_value",
}


def _value_to_proto(value: FlagValue, value_type: ValueType) -> flags_pb.VariantValue:
    match value_type, value:
        case ValueType.JSON, _:
            return flags_pb.VariantValue(json_value=_json_text(value))
        case ValueType.BOOL, bool():
            return flags_pb.VariantValue(bool_value=value)
        case ValueType.INT, int() if not isinstance(value, bool) and value in INT64:
            return flags_pb.VariantValue(int_value=value)
        case ValueType.DOUBLE, int() | float() if not isinstance(value, bool):
            return flags_pb.VariantValue(double_value=float(value))
        case ValueType.STRING, str():
            return flags_pb.VariantValue(string_value=value)
    raise WireFormatError(f"variant value {value!r} does not fit value type {value_type}")


def _json_text(value: FlagValue) -> str:
    """JSON text that decodes back to `value`; NaN, non-string keys or tuples are refused."""
    try:
        text = msgspec.json.encode(value)
        survives = bool(msgspec.json.decode(text, type=FlagValue) == value)
    except (TypeError, msgspec.DecodeError) as exc:
        raise WireFormatError(f"variant value {value!r} is not JSON: {exc}") from exc
    if not survives:
        raise WireFormatError(f"variant value {value!r} does not survive a JSON round trip")
    return text.decode()


def _value_from_proto(msg: flags_pb.VariantValue, value_type: ValueType) -> FlagValue:
    kind, value = betterproto.which_one_of(msg, "kind")
    if kind == _VALUE_CASES[value_type] == "json_value":
        try:
            return msgspec.json.decode(str(value), type=FlagValue)
        except msgspec.DecodeError as exc:
            raise WireFormatError(f"invalid JSON variant value: {exc}") from exc
    if kind == _VALUE_CASES[value_type]:
        return cast(FlagValue, value)
    raise WireFormatError(f"variant value in {kind or 'no field'} does not fit value type {value_type}")


def _variant_to_proto(variant: Variant, value_type: ValueType) -> flags_pb.Variant:
    return flags_pb.Variant(
        key=variant.key,
        value=_value_to_proto(variant.value, value_type),
        name=variant.name,
        description=variant.description,
    )


def _variant_from_proto(msg: flags_pb.Variant, value_type: ValueType) -> Variant:
    value = _value_from_proto(msg.value, value_type)
    return Variant(key=msg.key, value=value, name=msg.name, description=msg.description)


def _hash_spec_to_proto(spec: HashSpec) -> dict[str, flags_pb.ContextHashSpec]:
    return {ctx: flags_pb.ContextHashSpec(parameter_names=list(names)) for ctx, names in spec.items()}


def _hash_spec_from_proto(specs: Mapping[str, flags_pb.ContextHashSpec]) -> HashSpec:
    return {ctx_type: tuple(spec.parameter_names) for ctx_type, spec in specs.items()}


def _allocation_to_proto(allocation: Allocation) -> flags_pb.PercentageAllocation:
    return flags_pb.PercentageAllocation(
        context_hash_specs=_hash_spec_to_proto(allocation.hash_spec),
        buckets=[flags_pb.AllocationBucket(b.variant_key, b.weight_milli) for b in allocation.buckets],
    )


def _allocation_from_proto(msg: flags_pb.PercentageAllocation) -> Allocation:
    return Allocation(
        buckets=tuple(Bucket(b.variant_key, b.weight_milli) for b in msg.buckets),
        hash_spec=_hash_spec_from_proto(msg.context_hash_specs),
    )


def _serve_to_proto(serve: Serve, *, payload: bytes, rule_id: str, description: str) -> flags_pb.FlagRule:
    """A FlagRule serving `serve`; every field is passed, so even an empty rule is present on the wire."""
    if serve.allocation is not None and serve.variant_key is None:
        allocation = _allocation_to_proto(serve.allocation)
        return flags_pb.FlagRule(payload, "", allocation, rule_id=rule_id, description=description)
    if serve.allocation is None and serve.variant_key:
        return flags_pb.FlagRule(payload, serve.variant_key, rule_id=rule_id, description=description)
    raise WireFormatError(f"rule {rule_id!r} must serve exactly one of a variant or an allocation")


def _serve_from_proto(msg: flags_pb.FlagRule) -> Serve:
    has_allocation = betterproto.serialized_on_wire(msg.allocation)
    if has_allocation and not msg.variant_key:
        return Serve(allocation=_allocation_from_proto(msg.allocation))
    if msg.variant_key and not has_allocation:
        return Serve(variant_key=msg.variant_key)
    raise WireFormatError(f"rule {msg.rule_id!r} must carry exactly one of variant_key or allocation")


def _payload_of(condition: Condition, owner: str) -> bytes:
    try:
        return encode_condition(condition, recorded=True)
    except ConditionError as exc:
        raise WireFormatError(f"invalid condition in {owner}: {exc}") from exc


def _condition_from_payload(payload: bytes, owner: str) -> Condition:
    try:
        return decode_condition(payload, recorded=True)
    except ConditionError as exc:
        raise WireFormatError(f"invalid rule_payload in {owner}: {exc}") from exc


def _rule_to_proto(rule: Rule) -> flags_pb.FlagRule:
    payload = _payload_of(rule.condition, f"rule {rule.id!r}")
    return _serve_to_proto(rule.serve, payload=payload, rule_id=rule.id, description=rule.description)


def _rule_from_proto(msg: flags_pb.FlagRule) -> Rule:
    return Rule(
        id=msg.rule_id,
        condition=_condition_from_payload(msg.rule_payload, f"rule {msg.rule_id!r}"),
        serve=_serve_from_proto(msg),
        description=msg.description,
    )


def _rules_and_fallthrough(msg: flags_pb.FeatureFlag) -> tuple[tuple[Rule, ...], Serve]:
    if betterproto.serialized_on_wire(msg.fallthrough):
        return tuple(_rule_from_proto(r) for r in msg.rules), _serve_from_proto(msg.fallthrough)
    if not msg.rules:
        raise WireFormatError(f"flag {msg.key!r} has neither a fallthrough nor rules")
    # A seed-era message has no fallthrough: its last rule is the default fallback.
    *targeting, fallback = msg.rules
    return tuple(_rule_from_proto(r) for r in targeting), _serve_from_proto(fallback)


def _uuid(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError as exc:
        raise WireFormatError(f"{what} {text!r} is not a UUID") from exc


def flag_to_proto(defn: FlagDefinition) -> flags_pb.FeatureFlag:
    """The wire form of one flag in one environment: everything in-process evaluation needs."""
    config = defn.config
    return flags_pb.FeatureFlag(
        key=defn.key,
        enabled=config.enabled,
        value_type=VALUE_TYPES[defn.value_type],
        variants=[_variant_to_proto(v, defn.value_type) for v in defn.variants],
        rules=[_rule_to_proto(r) for r in config.rules],
        off_variant_key=config.off_variant,
        fallthrough=_serve_to_proto(config.fallthrough, payload=b"", rule_id="", description=""),
        hashing=_hash_spec_to_proto(config.hashing),
        version=defn.version,
        project_id=str(defn.project_id),
        environment_id=str(defn.environment_id),
        archived=defn.archived,
    )


def flag_from_proto(msg: flags_pb.FeatureFlag) -> FlagDefinition:
    """The domain form of a synced flag; WireFormatError when it cannot be evaluated as sent."""
    value_type = _VALUE_TYPES_BACK.get(msg.value_type)
    if value_type is None:
        raise WireFormatError(f"flag {msg.key!r} has unknown value type {msg.value_type!r}")
    rules, fallthrough = _rules_and_fallthrough(msg)
    config = FlagConfig(
        enabled=msg.enabled,
        off_variant=msg.off_variant_key,
        fallthrough=fallthrough,
        rules=rules,
        hashing=_hash_spec_from_proto(msg.hashing),
    )
    return FlagDefinition(
        key=msg.key,
        project_id=_uuid(msg.project_id, "project_id"),
        environment_id=_uuid(msg.environment_id, "environment_id"),
        value_type=value_type,
        variants=tuple(_variant_from_proto(v, value_type) for v in msg.variants),
        config=config,
        version=msg.version,
        archived=msg.archived,
    )


def rule_segment_to_proto(segment: RuleSegment) -> segments_pb.RuleSegment:
    """The wire form of a rule segment, its condition as `rule_payload`."""
    return segments_pb.RuleSegment(
        key=segment.key,
        context_type=segment.context_type,
        rule_payload=_payload_of(segment.condition, f"segment {segment.key!r}"),
        id=str(segment.id),
        version=segment.version,
    )


def rule_segment_from_proto(msg: segments_pb.RuleSegment) -> RuleSegment:
    """The domain form of a synced rule segment."""
    return RuleSegment(
        id=_uuid(msg.id, "segment id"),
        key=msg.key,
        context_type=msg.context_type,
        condition=_condition_from_payload(msg.rule_payload, f"segment {msg.key!r}"),
        version=msg.version,
    )


def list_segment_meta_to_proto(meta: ListSegmentMeta) -> segments_pb.ListSegmentMeta:
    """The wire form of a list segment's identity (never its members)."""
    return segments_pb.ListSegmentMeta(
        key=meta.key, context_type=meta.context_type, id=str(meta.id), version=meta.version
    )


def list_segment_meta_from_proto(msg: segments_pb.ListSegmentMeta) -> ListSegmentMeta:
    """The domain form of a synced list segment's identity."""
    return ListSegmentMeta(
        id=_uuid(msg.id, "segment id"), key=msg.key, context_type=msg.context_type, version=msg.version
    )
