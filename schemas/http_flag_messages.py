"""The seed's MutateFlagRequest (CREATE) and FeatureFlag messages as a flag-creation body.

`CreateFlagBody.__seed_request__` names MutateFlagRequest (schemas/http_body.py): a POST body with a
`flag` key is decoded as the seed's message and turned into our CreateFlagBody. Conditions travel as
`rule_payload` (base64 of the condition's JSON); without `fallthrough`, the last rule is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from uuid import UUID

import msgspec

from schemas.http_body import Body, BodyError, SeedRequest
from schemas.http_flags import AllocationBody, CreateFlagBody, RuleBody, ServeBody, VariantBody
from schemas.http_segments import RulePayload, payload_condition
from schemas.http_types import Int64, Key, OptionalKey, ValueTypeName


class VariantValueMessage(Body, frozen=True, kw_only=True):
    """The seed's VariantValue: exactly one member set (`json_value` is JSON text)."""

    bool_value: bool | None = None
    int_value: Int64 | None = None
    double_value: float | None = None
    string_value: str | None = None
    json_value: str | None = None

    def value(self) -> Any:
        given = [
            v
            for v in (self.bool_value, self.int_value, self.double_value, self.string_value)
            if v is not None
        ]
        if self.json_value is not None:
            given.append(_json(self.json_value))
        if len(given) != 1:
            raise BodyError("a variant value sets exactly one of its members")
        return given[0]


def _json(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise BodyError(f"json_value is not JSON: {exc}") from None


class VariantMessage(Body, frozen=True, kw_only=True):
    key: Key
    value: VariantValueMessage
    name: str = ""
    description: str = ""


class FlagRuleMessage(Body, frozen=True, kw_only=True):
    """The seed's FlagRule: a condition as `rule_payload` serving a variant or an allocation."""

    rule_payload: RulePayload = ""
    variant_key: str = ""
    allocation: AllocationBody | None = None
    rule_id: OptionalKey = ""
    description: str = ""

    def serve(self) -> ServeBody:
        return ServeBody(variant_key=self.variant_key or None, allocation=self.allocation)

    def rule(self) -> RuleBody:
        condition = payload_condition(self.rule_payload) if self.rule_payload else None
        if condition is None:
            raise BodyError("a targeting rule needs its `rule_payload`")
        return RuleBody(
            condition=condition, serve=self.serve(), id=self.rule_id, description=self.description
        )


class FeatureFlagMessage(Body, frozen=True, kw_only=True):
    """The seed's FeatureFlag as a new flag: without `fallthrough` its last rule is the default."""

    __proto_enums__: ClassVar[Mapping[str, str]] = {"value_type": "FLAG_VALUE_TYPE_"}

    key: Key
    value_type: ValueTypeName
    variants: list[VariantMessage]
    enabled: bool = False
    rules: list[FlagRuleMessage] = []
    off_variant_key: str = ""
    fallthrough: FlagRuleMessage | None = None


class MutateFlagRequest(SeedRequest, frozen=True, kw_only=True):
    """The seed's MutateFlagRequest creating a flag (`version` 0)."""

    environment_id: UUID | None = None
    kind: Literal["MUTATION_KIND_CREATE", "MUTATION_KIND_UNSPECIFIED"] = "MUTATION_KIND_CREATE"
    flag: FeatureFlagMessage
    version: Literal[0] = 0

    def native(self) -> CreateFlagBody:
        f = self.flag
        targeting, fallback = (
            (f.rules, f.fallthrough) if f.fallthrough or not f.rules else (f.rules[:-1], f.rules[-1])
        )
        variants = [
            VariantBody(key=v.key, value=v.value.value(), name=v.name, description=v.description)
            for v in f.variants
        ]
        return CreateFlagBody(
            key=f.key, value_type=f.value_type, variants=variants, enabled=f.enabled,
            off_variant=f.off_variant_key or None, fallthrough=fallback.serve() if fallback else None,
            rules=[r.rule() for r in targeting], environment_id=self.environment_id,
        )  # fmt: skip


CreateFlagBody.__seed_request__ = MutateFlagRequest
