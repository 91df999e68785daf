"""Compiled flags: conditions turned into closures and outcomes prebuilt once per definition change.

`compile_flag(definition)` is the form servers and SDKs keep in their definition caches;
`CompiledFlag.evaluate` returns exactly what `domain.evaluation.evaluate` returns for the same
inputs (a property test holds them equal) without re-reading the definition on every call. Results
are prebuilt per outcome and reused while the definition sequence stays the same, so a call that
needs no hash allocates nothing.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import NamedTuple

import msgspec

from domain.conditions.budget import rules_cost
from domain.conditions.compiler import compile_condition
from domain.conditions.segments import SegmentAnswers, SegmentLookup
from domain.context import ContextSet
from domain.evaluation import error_result, hash_spec_for, serve_variant
from domain.flags.model import ErrorCode, EvaluationResult, FlagDefinition, Reason, Serve
from domain.hashing import SpecItems, bucket_edges, context_part, escape, hash_prefix, slot_of, spec_items


class _Split(NamedTuple):
    head: str  # the canonical string up to the context part (and its "type=" when `single` is set)
    single: str | None  # the context type when the spec is one context's key: the common, fast case
    items: SpecItems
    edges: tuple[int, ...]
    outcomes: tuple[int, ...]  # per bucket, plus one for a slot past the last edge


_Plan = int | _Split  # an outcome index, or a split choosing one
_CANNOT_HASH = -1


class CompiledFlag:
    """One flag definition, ready to evaluate many times; immutable apart from its result cache."""

    __slots__ = (
        "_cache",
        "_enabled",
        "_fallback",
        "_fallthrough",
        "_off",
        "_rules",
        "_templates",
        "_uses_segments",
        "definition",
    )

    def __init__(self, definition: FlagDefinition) -> None:
        self.definition = definition
        self._templates: list[EvaluationResult] = []
        config = definition.config
        self._enabled = config.enabled
        self._off = self._outcome(serve_variant(definition, config.off_variant, Reason.DISABLED, None, 0))
        self._fallback = self._outcome(serve_variant(definition, config.off_variant, Reason.DEFAULT, None, 0))
        self._rules = tuple(
            (compile_condition(rule.condition), self._plan(rule.serve, rule.id)) for rule in config.rules
        )
        self._fallthrough = self._plan(config.fallthrough, None)
        self._uses_segments = rules_cost(r.condition for r in config.rules).segment_references > 0
        self._cache: tuple[int, list[EvaluationResult | None]] = (0, list(self._templates))

    @property
    def key(self) -> str:
        """The flag key."""
        return self.definition.key

    def evaluate(self, contexts: ContextSet, segments: SegmentLookup, sequence: int) -> EvaluationResult:
        """Same contract as `domain.evaluation.evaluate` for this definition; never raises."""
        if not self._enabled:
            return self._result(self._off, sequence)
        if self._uses_segments:
            segments = SegmentAnswers(segments)  # one per evaluation: bounds the segment conditions it runs
        for predicate, plan in self._rules:
            if predicate(contexts, segments, 0):
                index = plan if isinstance(plan, int) else self._split(plan, contexts)
                if index != _CANNOT_HASH:
                    return self._result(index, sequence)
        plan = self._fallthrough
        index = plan if isinstance(plan, int) else self._split(plan, contexts)
        return self._result(self._fallback if index == _CANNOT_HASH else index, sequence)

    def _result(self, index: int, sequence: int) -> EvaluationResult:
        cache = self._cache
        if cache[0] != sequence:
            # One tuple swap keeps concurrent readers from pairing results with the wrong sequence.
            cache = (sequence, [None] * len(self._templates))
            self._cache = cache
        result = cache[1][index]
        if result is None:
            result = msgspec.structs.replace(self._templates[index], sequence=sequence)
            cache[1][index] = result
        return result

    @staticmethod
    def _split(split: _Split, contexts: ContextSet) -> int:
        if split.single is not None:
            ctx = contexts.get(split.single)
            if ctx is None:
                return _CANNOT_HASH
            part = escape(ctx.key)
        else:
            found = context_part(contexts, split.items)
            if found is None:
                return _CANNOT_HASH
            part = found
        return split.outcomes[bisect_right(split.edges, slot_of(split.head + part))]

    def _outcome(self, template: EvaluationResult) -> int:
        self._templates.append(template)
        return len(self._templates) - 1

    def _plan(self, serve: Serve, rule_id: str | None) -> _Plan:
        flag = self.definition
        if serve.variant_key is not None:
            reason = Reason.TARGETING_MATCH if rule_id is not None else Reason.DEFAULT
            return self._outcome(serve_variant(flag, serve.variant_key, reason, rule_id, 0))
        if serve.allocation is None:
            return self._outcome(error_result(flag.key, ErrorCode.GENERAL, 0, rule_id))
        buckets = serve.allocation.buckets
        outcomes = [
            self._outcome(serve_variant(flag, b.variant_key, Reason.SPLIT, rule_id, 0)) for b in buckets
        ]
        outcomes.append(self._outcome(error_result(flag.key, ErrorCode.GENERAL, 0, rule_id)))
        items = spec_items(hash_spec_for(flag, serve.allocation))
        prefix = hash_prefix(flag.key, flag.project_id, flag.environment_id)
        single = items[0][0] if len(items) == 1 and not items[0][1] else None
        return _Split(
            head=prefix if single is None else f"{prefix}{escape(single)}=",
            single=single,
            items=items,
            edges=bucket_edges(buckets),
            outcomes=tuple(outcomes),
        )


def compile_flag(definition: FlagDefinition) -> CompiledFlag:
    """Compile once per definition change; evaluate many times."""
    return CompiledFlag(definition)
