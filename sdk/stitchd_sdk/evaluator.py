"""Typed in-process evaluation shared by the asyncio and the synchronous clients."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Final, TypeVar

from domain.context import ContextSet
from domain.evaluation import not_found
from domain.flags.model import ErrorCode, EvaluationResult, FlagValue, Reason, ValueType
from stitchd_sdk.contexts import exposure_context
from stitchd_sdk.lfu import LfuCache, MembershipKey
from stitchd_sdk.lookup import MissPolicy, SdkSegments
from stitchd_sdk.store import DefinitionStore
from stitchd_sdk.tracking import Tracker
from stitchd_sdk.types import EvaluationDetails

T = TypeVar("T")


class Kind:
    """A getter's expectation: which flag value types it accepts and how it converts the value."""

    __slots__ = ("accepts", "convert")

    def __init__(self, accepts: Collection[ValueType], convert: Callable[[FlagValue], Any]) -> None:
        self.accepts = frozenset(accepts)
        self.convert = convert


def _same(value: FlagValue) -> FlagValue:
    return value


def _to_float(value: FlagValue) -> float:
    assert isinstance(value, int | float)
    return float(value)


BOOL: Final = Kind({ValueType.BOOL}, _same)
INT: Final = Kind({ValueType.INT}, _same)
FLOAT: Final = Kind({ValueType.DOUBLE, ValueType.INT}, _to_float)
STR: Final = Kind({ValueType.STRING}, _same)
JSON: Final = Kind(set(ValueType), _same)


class FetchNow:
    """MissPolicy of the synchronous client: fetch the membership now and cache it."""

    __slots__ = ("_cache", "_fetch")

    def __init__(self, fetch: Callable[[MembershipKey], bool | None], cache: LfuCache) -> None:
        self._fetch = fetch
        self._cache = cache

    def on_miss(self, key: MembershipKey) -> bool | None:
        """The fetched membership (None when the fetch failed, which is not cached)."""
        member = self._fetch(key)
        if member is not None:
            self._cache.put(key, member)
        return member


class Evaluator:
    """Evaluates against the store's current definitions; records exposures of served variants."""

    def __init__(
        self, store: DefinitionStore, cache: LfuCache, tracker: Tracker, send_exposures: bool
    ) -> None:
        self._store = store
        self._cache = cache
        self._tracker = tracker
        self._send_exposures = send_exposures

    def typed(
        self, flag_key: str, contexts: ContextSet, default: T, kind: Kind, policy: MissPolicy
    ) -> EvaluationDetails[T]:
        """The details of one evaluation; the default (with an error code) on any error."""
        definitions = self._store.current
        compiled = definitions.flags.get(flag_key)
        sequence = definitions.sequence
        if compiled is None:
            return _error(default, ErrorCode.FLAG_NOT_FOUND, sequence)
        if compiled.definition.value_type not in kind.accepts:
            return _error(default, ErrorCode.TYPE_MISMATCH, sequence)
        result = compiled.evaluate(contexts, SdkSegments(definitions, self._cache, policy), sequence)
        if result.error_code is not None or result.variant_key is None:
            return EvaluationDetails(
                default, None, result.reason, result.rule_id, result.error_code, result.sequence
            )
        value: T = kind.convert(result.value)
        return EvaluationDetails(
            value, result.variant_key, result.reason, result.rule_id, None, result.sequence
        )

    def raw(self, flag_key: str, contexts: ContextSet, policy: MissPolicy) -> EvaluationResult:
        """The domain result itself (value None on error); no exposure."""
        definitions = self._store.current
        compiled = definitions.flags.get(flag_key)
        if compiled is None:
            return not_found(flag_key, definitions.sequence)
        return compiled.evaluate(
            contexts, SdkSegments(definitions, self._cache, policy), definitions.sequence
        )

    def expose(self, flag_key: str, details: EvaluationDetails[Any], contexts: ContextSet) -> None:
        """Queue the exposure of a served variant (deduplicated by the tracker)."""
        if not self._send_exposures or details.variant_key is None or details.error_code is not None:
            return
        context = exposure_context(contexts)
        if context is not None:
            self._tracker.expose(flag_key, details.variant_key, context, details.sequence)


def _error(default: T, code: ErrorCode, sequence: int) -> EvaluationDetails[T]:
    return EvaluationDetails(default, None, Reason.ERROR, None, code, sequence)
