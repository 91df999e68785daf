"""Evaluation order and reasons (DESIGN section 7), checked on the interpreter and the compiled form."""

from __future__ import annotations

from uuid import UUID

import msgspec
import pytest

from domain.compiled import compile_flag
from domain.conditions.ast import ALWAYS, Attribute, Condition, Leaf, Not, Op
from domain.conditions.segments import NO_SEGMENTS
from domain.context import Context, ContextSet
from domain.evaluation import evaluate
from domain.flags.model import (
    Allocation,
    Bucket,
    ErrorCode,
    EvaluationResult,
    FlagConfig,
    FlagDefinition,
    FlagValue,
    HashSpec,
    Reason,
    Rule,
    Serve,
    ValueType,
    Variant,
)

US = Leaf(Attribute("user", "country"), Op.EQ, "US")
PRO = Leaf(Attribute("user", "plan"), Op.IN, ("pro", "enterprise"))
EVERYONE_ON = Allocation(buckets=(Bucket("on", 1000),))
ALICE = ContextSet((Context(context_type="user", key="alice", parameters={"country": "US", "plan": "pro"}),))
ORG_ONLY = ContextSet.single("org", "acme")


def flag(
    *rules: Rule,
    enabled: bool = True,
    fallthrough: Serve | None = None,
    hashing: HashSpec | None = None,
    value_type: ValueType = ValueType.BOOL,
    values: tuple[FlagValue, FlagValue] = (True, False),
) -> FlagDefinition:
    return FlagDefinition(
        key="checkout",
        project_id=UUID(int=1),
        environment_id=UUID(int=2),
        value_type=value_type,
        variants=(Variant(key="on", value=values[0]), Variant(key="off", value=values[1])),
        config=FlagConfig(
            enabled=enabled,
            off_variant="off",
            fallthrough=fallthrough or Serve(variant_key="off"),
            rules=rules,
            hashing=hashing or {},
        ),
    )


def rule(
    rule_id: str, condition: Condition, *, variant: str | None = None, split: Allocation | None = None
) -> Rule:
    return Rule(id=rule_id, condition=condition, serve=Serve(variant_key=variant, allocation=split))


def both(definition: FlagDefinition | None, contexts: ContextSet, sequence: int = 7) -> EvaluationResult:
    """Evaluate both ways and insist they agree."""
    result = evaluate(definition, contexts, segments=NO_SEGMENTS, sequence=sequence, flag_key="checkout")
    if definition is not None:
        assert compile_flag(definition).evaluate(contexts, NO_SEGMENTS, sequence) == result
    return result


def test_an_unknown_flag_is_an_error_with_no_value() -> None:
    assert both(None, ALICE) == EvaluationResult(
        flag_key="checkout",
        value=None,
        variant_key=None,
        reason=Reason.ERROR,
        error_code=ErrorCode.FLAG_NOT_FOUND,
        sequence=7,
    )


def test_a_disabled_flag_serves_its_off_variant_whatever_the_rules() -> None:
    result = both(flag(rule("r1", ALWAYS, variant="on"), enabled=False), ALICE)
    assert (result.variant_key, result.value, result.reason, result.rule_id) == (
        "off",
        False,
        Reason.DISABLED,
        None,
    )


def test_the_first_matching_rule_serves() -> None:
    definition = flag(
        rule("r1", Not(US), variant="off"), rule("r2", US, variant="on"), rule("r3", ALWAYS, variant="off")
    )
    result = both(definition, ALICE)
    assert (result.variant_key, result.value, result.reason, result.rule_id) == (
        "on",
        True,
        Reason.TARGETING_MATCH,
        "r2",
    )


def test_rule_order_decides_between_matching_rules() -> None:
    first, second = rule("a", US, variant="on"), rule("b", PRO, variant="off")
    assert both(flag(first, second), ALICE).rule_id == "a"
    assert both(flag(second, first), ALICE).rule_id == "b"


def test_a_rule_allocation_is_a_split() -> None:
    result = both(flag(rule("r1", US, split=EVERYONE_ON)), ALICE)
    assert (result.variant_key, result.reason, result.rule_id) == ("on", Reason.SPLIT, "r1")


def test_without_a_matching_rule_the_fallthrough_serves() -> None:
    assert both(flag(rule("r1", Not(US), variant="on")), ALICE).reason is Reason.DEFAULT
    result = both(flag(fallthrough=Serve(allocation=EVERYONE_ON)), ALICE)
    assert (result.variant_key, result.reason, result.rule_id) == ("on", Reason.SPLIT, None)


def test_a_rule_whose_allocation_cannot_hash_passes_to_the_next_rule() -> None:
    by_org = Allocation(buckets=(Bucket("off", 1000),), hash_spec={"org": ()})
    result = both(flag(rule("r1", ALWAYS, split=by_org), rule("r2", ALWAYS, variant="on")), ALICE)
    assert result.rule_id == "r2"


def test_a_fallthrough_allocation_that_cannot_hash_serves_the_off_variant() -> None:
    result = both(flag(fallthrough=Serve(allocation=EVERYONE_ON)), ORG_ONLY)
    assert (result.variant_key, result.reason) == ("off", Reason.DEFAULT)


@pytest.mark.parametrize(
    ("own", "environment", "hashable_by"),
    [({"org": ()}, {"device": ()}, "org"), ({}, {"device": ()}, "device"), ({}, {}, "user")],
)
def test_the_hash_spec_falls_back_from_allocation_to_environment_to_user_key(
    own: HashSpec, environment: HashSpec, hashable_by: str
) -> None:
    split = Allocation(buckets=(Bucket("on", 1000),), hash_spec=own)
    definition = flag(fallthrough=Serve(allocation=split), hashing=environment)
    for context_type in ("org", "device", "user"):
        result = both(definition, ContextSet.single(context_type, "k"))
        assert (result.reason is Reason.SPLIT) is (context_type == hashable_by)


TYPED: list[tuple[ValueType, tuple[FlagValue, FlagValue]]] = [
    (ValueType.INT, (3, 4)),
    (ValueType.DOUBLE, (0.25, 1)),
    (ValueType.STRING, ("blue", "red")),
    (ValueType.JSON, ({"limits": [1, 2]}, None)),
]


def test_results_carry_typed_values() -> None:
    for value_type, values in TYPED:
        result = both(flag(rule("r1", ALWAYS, variant="on"), value_type=value_type, values=values), ALICE)
        assert result.value == values[0]


def test_inconsistent_definitions_give_errors_not_exceptions() -> None:
    mistyped = flag(rule("r1", ALWAYS, variant="on"), value_type=ValueType.INT, values=("x", 1))
    assert both(mistyped, ALICE).error_code is ErrorCode.TYPE_MISMATCH
    unknown = flag(rule("r1", ALWAYS, variant="gone"))
    assert both(unknown, ALICE).error_code is ErrorCode.GENERAL
    empty = flag(rule("r1", ALWAYS))
    assert (both(empty, ALICE).reason, both(empty, ALICE).rule_id) == (Reason.ERROR, "r1")
    short = flag(fallthrough=Serve(allocation=Allocation(buckets=(Bucket("on", 1),))))
    assert both(short, ContextSet.single("user", "user-1")).reason in (Reason.SPLIT, Reason.ERROR)


def test_the_definition_sequence_is_stamped_on_every_result() -> None:
    compiled = compile_flag(flag(rule("r1", US, variant="on")))
    for sequence in (1, 2, 2, 99, 1):
        assert compiled.evaluate(ALICE, NO_SEGMENTS, sequence).sequence == sequence
        assert compiled.evaluate(ORG_ONLY, NO_SEGMENTS, sequence).sequence == sequence


def test_private_parameters_never_appear_in_a_result() -> None:
    secret = "s3cr3t-ssn-078-05-1120"
    contexts = ContextSet(
        (
            Context(
                context_type="user",
                key="alice",
                parameters={"country": "US", "ssn": secret},
                private_parameters=frozenset({"ssn"}),
            ),
        )
    )
    uses_secret = Leaf(Attribute("user", "ssn"), Op.EQ, secret)
    result = both(flag(rule("r1", uses_secret, split=EVERYONE_ON)), contexts)
    assert result.rule_id == "r1"  # the private parameter took part in targeting ...
    for rendering in (repr(result), str(result), msgspec.json.encode(result).decode()):
        assert secret not in rendering  # ... but no trace of it is in the result


def test_compiled_results_are_reused_while_the_sequence_holds() -> None:
    compiled = compile_flag(flag(rule("r1", US, variant="on")))
    first = compiled.evaluate(ALICE, NO_SEGMENTS, 5)
    assert compiled.evaluate(ALICE, NO_SEGMENTS, 5) is first  # no allocation for a repeated outcome
    assert compiled.evaluate(ALICE, NO_SEGMENTS, 6) == msgspec.structs.replace(first, sequence=6)
