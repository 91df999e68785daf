"""OFREP answer bodies from our evaluation results, and the bulk answer's ETag (docs/openfeature.md).

Reasons: DISABLED, TARGETING_MATCH and SPLIT are the same words; our DEFAULT (the fallthrough) is
STATIC when the flag has no targeting rules (everyone gets it) and UNKNOWN otherwise, because the
OFREP schema has no DEFAULT. Every answer's `metadata` carries our own reason, the definition
`sequence` and the matched `ruleId`, so nothing is lost in the mapping.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from domain.context import ContextSet
from domain.flags.model import ErrorCode, EvaluationResult, Reason
from domain.openfeature_context import fingerprint
from gateway.ofrep_body import Failure
from readmodels.definitions import DefinitionsCache

Body = dict[str, Any]


def failure(code: str, details: str, key: str | None = None) -> Body:
    """An evaluationFailure (with `key`) or bulkEvaluationFailure (without) body."""
    body: Body = {} if key is None else {"key": key}
    body["errorCode"] = code
    body["errorDetails"] = details
    return body


def ofrep_reason(result: EvaluationResult, has_rules: bool) -> str:
    """The OFREP reason of a successful evaluation."""
    match result.reason:
        case Reason.DEFAULT:
            return "UNKNOWN" if has_rules else "STATIC"
        case Reason.DISABLED | Reason.TARGETING_MATCH | Reason.SPLIT:
            return result.reason.value
        case _:
            return "UNKNOWN"


def metadata(result: EvaluationResult) -> Body:
    """Flag metadata: our reason, the definition sequence evaluated and the matched rule."""
    meta: Body = {"reason": result.reason.value, "sequence": result.sequence}
    if result.rule_id is not None:
        meta["ruleId"] = result.rule_id
    return meta


def has_rules(cache: DefinitionsCache, env_id: UUID, flag_key: str) -> bool:
    """Whether the flag has targeting rules (our fallthrough is then UNKNOWN, not STATIC)."""
    env = cache.environment(env_id)
    flag = env.flags.get(flag_key) if env is not None else None
    return flag is not None and bool(flag.definition.config.rules)


def answer(result: EvaluationResult, rules: bool) -> Body:
    """The evaluationSuccess or evaluationFailure body of one result (FLAG_NOT_FOUND included);
    `rules`: whether the flag has targeting rules (`has_rules`)."""
    key = result.flag_key
    if result.reason is Reason.ERROR:
        if result.error_code is ErrorCode.FLAG_NOT_FOUND:
            return failure(Failure.FLAG_NOT_FOUND, f"flag {key!r} was not found", key)
        code = result.error_code.value if result.error_code is not None else "none"
        return failure(Failure.GENERAL, f"flag {key!r} could not be evaluated ({code})", key)
    body: Body = {"key": key, "reason": ofrep_reason(result, rules)}
    if result.variant_key is not None:
        body["variant"] = result.variant_key
    if result.value is not None:  # a null value defers to the code default (OFREP codeDefaultFlag)
        body["value"] = result.value
    body["metadata"] = metadata(result)
    return body


def is_not_found(body: Body) -> bool:
    """Whether an answer body is the flagNotFound one."""
    return body.get("errorCode") == Failure.FLAG_NOT_FOUND


def bulk_etag(env_id: UUID, sequence: int, contexts: ContextSet) -> str:
    """The bulk answer's strong ETag: it changes when the definitions or the context change."""
    digest = hashlib.sha256()
    digest.update(env_id.bytes)
    digest.update(sequence.to_bytes(8, "big", signed=False))
    digest.update(fingerprint(contexts))
    return f'"{digest.hexdigest()[:32]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match list against our ETag (`*` matches)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def config_etag(sequence: int) -> str:
    """The definitions' own validator (SSE `etag`, `flagConfigEtag`): the definition sequence."""
    return str(sequence)


def config_sequence(flag_config_etag: str | None) -> int | None:
    """The definition sequence a `flagConfigEtag` names, if it is one of ours."""
    text = (flag_config_etag or "").strip().strip('"')
    return int(text) if text.isdigit() and len(text) < 19 else None
