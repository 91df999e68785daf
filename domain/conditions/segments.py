"""How evaluation sees segments: a lookup port plus a small in-memory adapter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from domain.flags.model import ListSegmentMeta, RuleSegment

MAX_SEGMENT_DEPTH = 8  # segments may reference segments; deeper chains (or cycles) are non-matches
MAX_SEGMENT_EVALUATIONS = 32  # rule-segment conditions one evaluation runs; later ones are non-matches


@runtime_checkable
class SegmentLookup(Protocol):
    """Resolves `in_segment` leaves; must be cheap and must not raise."""

    def rule_segment(self, key: str) -> RuleSegment | None:
        """The rule segment with that key, if any."""
        ...

    def list_segment(self, key: str) -> ListSegmentMeta | None:
        """The list segment with that key, if any."""
        ...

    def is_list_member(self, segment_key: str, context_type: str, context_key: str) -> bool | None:
        """Membership of one context in a list segment; None when unknown (treated as not a member)."""
        ...


class StaticSegments:
    """An immutable in-memory SegmentLookup (tests, conformance, an SDK holding everything locally)."""

    def __init__(
        self,
        rules: Iterable[RuleSegment] = (),
        lists: Iterable[ListSegmentMeta] = (),
        members: Mapping[str, Iterable[tuple[str, str]]] | None = None,
    ) -> None:
        self._rules = {s.key: s for s in rules}
        self._lists = {s.key: s for s in lists}
        self._members = {k: frozenset(v) for k, v in (members or {}).items()}

    def rule_segment(self, key: str) -> RuleSegment | None:
        """The rule segment with that key, if any."""
        return self._rules.get(key)

    def list_segment(self, key: str) -> ListSegmentMeta | None:
        """The list segment with that key, if any."""
        return self._lists.get(key)

    def is_list_member(self, segment_key: str, context_type: str, context_key: str) -> bool | None:
        """Membership from the given member pairs; None for a segment without a member list."""
        members = self._members.get(segment_key)
        if members is None:
            return None
        return (context_type, context_key) in members


NO_SEGMENTS = StaticSegments()


class SegmentAnswers:
    """A SegmentLookup for one evaluation that remembers rule-segment answers.

    Segments may name segments, so without it a condition naming a segment 32 times, whose condition
    names another 32 times, ... would run 32^8 conditions. Each (segment, nesting level) is asked once
    (its answer is a pure function of both and the context set), and after MAX_SEGMENT_EVALUATIONS
    distinct questions a further one has no answer (a non-match, like a chain past MAX_SEGMENT_DEPTH).
    """

    __slots__ = ("answers", "inner")

    def __init__(self, inner: SegmentLookup) -> None:
        self.inner = inner
        self.answers: dict[tuple[str, int], bool] = {}

    def rule_segment(self, key: str) -> RuleSegment | None:
        """The rule segment with that key, if any."""
        return self.inner.rule_segment(key)

    def list_segment(self, key: str) -> ListSegmentMeta | None:
        """The list segment with that key, if any."""
        return self.inner.list_segment(key)

    def is_list_member(self, segment_key: str, context_type: str, context_key: str) -> bool | None:
        """Membership as the wrapped lookup answers it."""
        return self.inner.is_list_member(segment_key, context_type, context_key)


def answers_for(segments: SegmentLookup) -> SegmentAnswers:
    """`segments` as a per-evaluation SegmentAnswers (itself when it already is one)."""
    return segments if isinstance(segments, SegmentAnswers) else SegmentAnswers(segments)
