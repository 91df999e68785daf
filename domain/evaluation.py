"""Flag evaluation, DESIGN section 7: the reference interpreter (see `domain.compiled` for the fast form).

Order: unknown flag -> ERROR / FLAG_NOT_FOUND (value None: the caller's default applies); disabled ->
off_variant, DISABLED; else the first rule whose condition matches serves its variant
(TARGETING_MATCH) or allocation (SPLIT); else the fallthrough (DEFAULT, or SPLIT for an allocation).

Decisions the design leaves open:
- A rule whose allocation cannot hash (a context or parameter of its hash spec is missing) does not
  serve: evaluation continues with the next rule. A fallthrough allocation that cannot hash serves
  the off_variant with reason DEFAULT.
- Hash spec of an allocation: its own `hash_spec` if non-empty, else the environment's `hashing` if
  non-empty, else DEFAULT_HASH_SPEC (the "user" context's key).
- A served variant key that the flag does not define gives ERROR / GENERAL; a variant value that does
  not fit the flag's value type gives ERROR / TYPE_MISMATCH; a Serve naming neither a variant nor an
  allocation gives ERROR / GENERAL. A Serve naming both serves the variant.
- Every result carries `sequence`, the definition sequence the caller evaluated against.
- `archived` is not evaluation's concern: a definition cache that stops serving archived flags makes
  them unknown (FLAG_NOT_FOUND); one that keeps them gets them evaluated like any other.

Private parameters: evaluation reads them like any parameter but a result holds no context data at
all (flag key, value, variant key, reason, rule id, error code, sequence), and nothing here logs.
Evaluation is total: it never raises for any context set.
"""

from __future__ import annotations

from domain.conditions.interpret import matches
from domain.conditions.segments import SegmentLookup, answers_for
from domain.context import ContextSet
from domain.flags.model import (
    DEFAULT_HASH_SPEC,
    Allocation,
    ErrorCode,
    EvaluationResult,
    FlagDefinition,
    FlagValue,
    HashSpec,
    Reason,
    Serve,
    ValueType,
)
from domain.hashing import bucket_of, pick_bucket


def evaluate(
    flag: FlagDefinition | None,
    contexts: ContextSet,
    *,
    segments: SegmentLookup,
    sequence: int,
    flag_key: str = "",
) -> EvaluationResult:
    """Evaluate one flag for one context set; `flag_key` names the result when `flag` is None."""
    if flag is None:
        return not_found(flag_key, sequence)
    config = flag.config
    if not config.enabled:
        return serve_variant(flag, config.off_variant, Reason.DISABLED, None, sequence)
    segments = answers_for(segments)  # one per evaluation: bounds the segment conditions it runs
    for rule in config.rules:
        if matches(rule.condition, contexts, segments):
            result = _serve(flag, rule.serve, contexts, rule.id, sequence)
            if result is not None:
                return result
    result = _serve(flag, config.fallthrough, contexts, None, sequence)
    if result is None:
        return serve_variant(flag, config.off_variant, Reason.DEFAULT, None, sequence)
    return result


def not_found(flag_key: str, sequence: int) -> EvaluationResult:
    """The result for a flag the caller asked for but no definition exists."""
    return error_result(flag_key, ErrorCode.FLAG_NOT_FOUND, sequence)


def error_result(
    flag_key: str, code: ErrorCode, sequence: int, rule_id: str | None = None
) -> EvaluationResult:
    """An ERROR result: no value, so the caller's default applies."""
    return EvaluationResult(
        flag_key=flag_key,
        value=None,
        variant_key=None,
        reason=Reason.ERROR,
        rule_id=rule_id,
        error_code=code,
        sequence=sequence,
    )


def hash_spec_for(flag: FlagDefinition, allocation: Allocation) -> HashSpec:
    """The allocation's own spec, else the environment's, else DEFAULT_HASH_SPEC."""
    return allocation.hash_spec or flag.config.hashing or DEFAULT_HASH_SPEC


def value_fits(value_type: ValueType, value: FlagValue) -> bool:
    """Whether a variant value has the flag's type (a double accepts ints; json accepts anything)."""
    match value_type:
        case ValueType.BOOL:
            return isinstance(value, bool)
        case ValueType.INT:
            return isinstance(value, int) and not isinstance(value, bool)
        case ValueType.DOUBLE:
            return isinstance(value, int | float) and not isinstance(value, bool)
        case ValueType.STRING:
            return isinstance(value, str)
        case ValueType.JSON:
            return True


def serve_variant(
    flag: FlagDefinition, variant_key: str, reason: Reason, rule_id: str | None, sequence: int
) -> EvaluationResult:
    """The result serving `variant_key`, or an ERROR result when it is unknown or mistyped."""
    for variant in flag.variants:
        if variant.key == variant_key:
            if not value_fits(flag.value_type, variant.value):
                return error_result(flag.key, ErrorCode.TYPE_MISMATCH, sequence, rule_id)
            return EvaluationResult(
                flag_key=flag.key,
                value=variant.value,
                variant_key=variant_key,
                reason=reason,
                rule_id=rule_id,
                sequence=sequence,
            )
    return error_result(flag.key, ErrorCode.GENERAL, sequence, rule_id)


def _serve(
    flag: FlagDefinition, serve: Serve, contexts: ContextSet, rule_id: str | None, sequence: int
) -> EvaluationResult | None:
    """What `serve` gives; None when its allocation cannot hash this context set."""
    if serve.variant_key is not None:
        reason = Reason.TARGETING_MATCH if rule_id is not None else Reason.DEFAULT
        return serve_variant(flag, serve.variant_key, reason, rule_id, sequence)
    allocation = serve.allocation
    if allocation is None:
        return error_result(flag.key, ErrorCode.GENERAL, sequence, rule_id)
    spec = hash_spec_for(flag, allocation)
    slot = bucket_of(flag.key, flag.project_id, flag.environment_id, contexts, spec)
    if slot is None:
        return None
    bucket = pick_bucket(allocation.buckets, slot)
    if bucket is None:
        return error_result(flag.key, ErrorCode.GENERAL, sequence, rule_id)
    return serve_variant(flag, bucket.variant_key, Reason.SPLIT, rule_id, sequence)
