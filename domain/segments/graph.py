"""The reference graph between segments: unknown references and cycles are refused."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from domain.conditions.ast import Condition
from domain.errors import SegmentCycle, UnknownSegment
from domain.flags.validation import check_condition, check_segment_budget, segment_refs

# Live segment key -> the segment keys its condition names (empty for list segments).
SegmentGraph = Mapping[str, frozenset[str]]
NO_SEGMENTS: SegmentGraph = MappingProxyType({})


def check_references(key: str, condition: Condition, segment_graph: SegmentGraph) -> None:
    """A valid condition within budget, whose segments exist and whose references never lead back to `key`."""
    check_segment_budget(condition)
    check_condition(condition)
    refs = segment_refs(condition)
    missing = sorted(refs - set(segment_graph) - {key})
    if missing:
        raise UnknownSegment(f"condition refers to missing segment(s): {', '.join(missing)}")
    graph = {**segment_graph, key: refs}
    seen: set[str] = set()
    stack = list(refs)
    while stack:
        current = stack.pop()
        if current == key:
            raise SegmentCycle(f"segment {key!r} would refer to itself")
        if current not in seen:
            seen.add(current)
            stack.extend(graph.get(current, frozenset()))
