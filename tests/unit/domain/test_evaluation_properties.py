"""Properties of evaluation over random flags, contexts and segments."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.compiled import compile_flag
from domain.conditions.interpret import matches
from domain.conditions.segments import StaticSegments
from domain.context import Context, ContextSet
from domain.evaluation import evaluate, hash_spec_for
from domain.flags.model import FlagDefinition, Reason
from domain.hashing import bucket_of
from tests.strategies import (
    CONTEXT_TYPES,
    MATCHING,
    PARAM_NAMES,
    context_sets,
    flag_definitions,
    segment_lookups,
)

sequences = st.integers(0, 2**53)


@settings(max_examples=200, deadline=None)
@given(flag_definitions(MATCHING), context_sets(MATCHING), segment_lookups(), sequences)
def test_compiled_evaluation_equals_interpreted_evaluation(
    flag: FlagDefinition, contexts: ContextSet, segments: StaticSegments, sequence: int
) -> None:
    expected = evaluate(flag, contexts, segments=segments, sequence=sequence)
    compiled = compile_flag(flag)
    assert compiled.evaluate(contexts, segments, sequence) == expected
    assert compiled.evaluate(contexts, segments, sequence) == expected  # and again, from its cache


@settings(deadline=None)
@given(flag_definitions(MATCHING), context_sets(MATCHING), segment_lookups(), sequences)
def test_evaluation_is_deterministic_and_stamps_the_sequence(
    flag: FlagDefinition, contexts: ContextSet, segments: StaticSegments, sequence: int
) -> None:
    first = evaluate(flag, contexts, segments=segments, sequence=sequence)
    again = evaluate(msgspec.json.decode(msgspec.json.encode(flag), type=FlagDefinition), contexts,
                     segments=segments, sequence=sequence)  # fmt: skip
    assert first == again
    assert first.sequence == sequence
    assert first.flag_key == flag.key
    assert (first.value is None and first.variant_key is None) or first.reason is not Reason.ERROR


@settings(deadline=None)
@given(flag_definitions(MATCHING), context_sets(MATCHING), segment_lookups())
def test_the_first_rule_that_matches_and_can_serve_decides(
    flag: FlagDefinition, contexts: ContextSet, segments: StaticSegments
) -> None:
    result = evaluate(flag, contexts, segments=segments, sequence=1)
    if not flag.config.enabled:
        assert result.reason is Reason.DISABLED
        return
    expected = None
    for rule in flag.config.rules:
        allocation = rule.serve.allocation
        can_serve = (
            allocation is None
            or bucket_of(
                flag.key, flag.project_id, flag.environment_id, contexts, hash_spec_for(flag, allocation)
            )
            is not None
        )
        if matches(rule.condition, contexts, segments) and can_serve:
            expected = rule.id
            break
    assert result.rule_id == expected
    if expected is not None:
        assert result.reason in (Reason.TARGETING_MATCH, Reason.SPLIT)
    else:
        assert result.reason in (Reason.DEFAULT, Reason.SPLIT)


@settings(deadline=None)
@given(flag_definitions(MATCHING), context_sets(MATCHING, min_size=1), st.uuids())
def test_private_parameter_values_never_reach_the_result(
    flag: FlagDefinition, contexts: ContextSet, marker: object
) -> None:
    secret = f"private-{marker}"
    first = contexts.contexts[0]
    private = Context(
        context_type=first.context_type,
        key=first.key,
        parameters={**first.parameters, "email": secret},
        private_parameters=first.private_parameters | {"email"},
    )
    contexts = ContextSet((private, *contexts.contexts[1:]))
    result = compile_flag(flag).evaluate(contexts, StaticSegments(), 3)
    assert secret not in repr(result)
    assert secret not in msgspec.json.encode(result).decode()


_JUNK = (
    st.none()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)
)


@settings(deadline=None)
@given(
    flag_definitions(MATCHING),
    st.dictionaries(st.sampled_from(PARAM_NAMES), MATCHING.param_values | _JUNK, max_size=8),
    st.text(max_size=4),
    segment_lookups(),
)
def test_evaluation_is_total_even_for_untyped_contexts(
    flag: FlagDefinition, params: dict[str, object], key: str, segments: StaticSegments
) -> None:
    # Contexts built in code can hold values the wire refuses (None, lists); evaluation must still answer.
    contexts = ContextSet(tuple(Context(context_type=t, key=key, parameters=params) for t in CONTEXT_TYPES))  # type: ignore[arg-type]
    result = evaluate(flag, contexts, segments=segments, sequence=5)
    assert compile_flag(flag).evaluate(contexts, segments, 5) == result
