"""One environment's definitions as its SDKs see them, with its sequence and its retained deltas.

`EnvDefinitions` is mutated only by `readmodels.definitions_fold.Folder`; everything else reads it. It is
also the environment's `SegmentLookup`, so evaluation resolves `in_segment` leaves without any IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec

from domain.compiled import CompiledFlag, compile_flag
from domain.event_definitions.events import MetricValueType
from domain.flags.model import FlagDefinition, ListSegmentMeta, RuleSegment
from readmodels.definitions_history import EnvHistory, HistoryBudget
from readmodels.definitions_large import AnswerCache


class Delta(msgspec.Struct, frozen=True, kw_only=True):
    """One change of an environment's definitions; `previous` is the sequence it applies on top of."""

    environment_id: UUID
    sequence: int
    previous: int
    flags: tuple[FlagDefinition, ...] = ()
    removed_flag_keys: tuple[str, ...] = ()
    rule_segments: tuple[RuleSegment, ...] = ()
    list_segments: tuple[ListSegmentMeta, ...] = ()
    removed_segment_keys: tuple[str, ...] = ()
    changed_list_segment_keys: tuple[str, ...] = ()


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an environment's SDKs see at `sequence`, each part sorted by key."""

    environment_id: UUID
    sequence: int
    flags: tuple[FlagDefinition, ...] = ()
    rule_segments: tuple[RuleSegment, ...] = ()
    list_segments: tuple[ListSegmentMeta, ...] = ()


class Membership:
    """A list segment's entries: a member is included and not excluded (exclusion wins)."""

    __slots__ = ("excluded", "included")

    def __init__(self) -> None:
        self.included: set[str] = set()
        self.excluded: set[str] = set()

    def contains(self, context_key: str) -> bool:
        """Whether the context key is a member."""
        return context_key in self.included and context_key not in self.excluded


class DeltaBuilder:
    """Collects what one event changed in one environment, in first-touch order."""

    __slots__ = ("changed_lists", "flags", "lists", "removed_flags", "removed_segments", "rules")

    def __init__(self) -> None:
        self.flags: dict[str, FlagDefinition] = {}
        self.removed_flags: dict[str, None] = {}
        self.rules: dict[str, RuleSegment] = {}
        self.lists: dict[str, ListSegmentMeta] = {}
        self.removed_segments: dict[str, None] = {}
        self.changed_lists: dict[str, None] = {}

    def empty(self) -> bool:
        """True when nothing the SDKs see changed."""
        parts = (
            self.flags,
            self.removed_flags,
            self.rules,
            self.lists,
            self.removed_segments,
            self.changed_lists,
        )
        return not any(parts)


class EnvDefinitions:
    """Current definitions of one environment plus a bounded history of its deltas."""

    __slots__ = (
        "answers",
        "environment_id",
        "event_types",
        "flags",
        "held",
        "history",
        "large",
        "list_segments",
        "member_budget",
        "members",
        "project_id",
        "rule_segments",
        "sequence",
    )

    def __init__(
        self,
        environment_id: UUID,
        project_id: UUID,
        sequence: int,
        history_limit: int,
        *,
        member_budget: int,
        answers: AnswerCache,
        history_budget: HistoryBudget,
    ) -> None:
        self.environment_id = environment_id
        self.project_id = project_id
        self.sequence = sequence
        self.flags: dict[str, CompiledFlag] = {}
        self.rule_segments: dict[str, RuleSegment] = {}
        self.list_segments: dict[str, ListSegmentMeta] = {}
        self.members: dict[str, Membership] = {}
        self.event_types: dict[str, MetricValueType] = {}
        self.history = EnvHistory(history_limit, history_budget)
        self.member_budget = member_budget
        self.held = 0  # membership keys in `members`, at most `member_budget` after every event
        self.large: dict[str, int] = {}  # segment key -> generation (position of its last member change)
        self.answers = answers

    # SegmentLookup
    def rule_segment(self, key: str) -> RuleSegment | None:
        """The rule segment with that key, if any."""
        return self.rule_segments.get(key)

    def list_segment(self, key: str) -> ListSegmentMeta | None:
        """The list segment with that key, if any."""
        return self.list_segments.get(key)

    def is_list_member(self, segment_key: str, context_type: str, context_key: str) -> bool | None:
        """Membership from memory (a large segment: the LRU only); None when no list segment has it."""
        meta = self.list_segments.get(segment_key)
        if meta is None:
            return None
        if meta.context_type != context_type:
            return False
        generation = self.large.get(segment_key)
        if generation is not None:  # only what the LRU remembers; callers resolve misses first
            return bool(self.answers.get((self.environment_id, segment_key, generation, context_key)))
        members = self.members.get(segment_key)
        return members is not None and members.contains(context_key)

    def large_miss(self, segment_key: str, context_type: str, context_key: str) -> int | None:
        """The generation of a large segment whose answer for this key is not remembered, else None."""
        meta = self.list_segments.get(segment_key)
        generation = self.large.get(segment_key)
        if meta is None or generation is None or meta.context_type != context_type:
            return None
        known = self.answers.get((self.environment_id, segment_key, generation, context_key))
        return generation if known is None else None

    # Changes (called by the folder)
    def set_flag(self, key: str, definition: FlagDefinition | None, delta: DeltaBuilder) -> None:
        """Upsert or remove a flag, recording it in `delta` only when the SDK-visible value changed."""
        current = self.flags.get(key)
        if definition is None:
            if current is not None:
                del self.flags[key]
                delta.flags.pop(key, None)
                delta.removed_flags[key] = None
            return
        if current is not None and current.definition == definition:
            return
        self.flags[key] = compile_flag(definition)
        delta.removed_flags.pop(key, None)
        delta.flags[key] = definition

    def set_segment(
        self, key: str, segment: RuleSegment | ListSegmentMeta | None, delta: DeltaBuilder
    ) -> None:
        """Upsert or remove a rule or list segment, recording real changes in `delta`."""
        old: RuleSegment | ListSegmentMeta | None = self.rule_segments.get(key) or self.list_segments.get(key)
        if old == segment:
            return
        self.rule_segments.pop(key, None)
        self.list_segments.pop(key, None)
        if segment is None:
            self.clear_members(key)
            delta.removed_segments[key] = None
        elif isinstance(segment, RuleSegment):
            self.rule_segments[key] = segment
            delta.rules[key] = segment
        else:
            self.list_segments[key] = segment
            delta.lists[key] = segment

    def change_members(
        self, key: str, position: int, included: Sequence[str], excluded: Sequence[str], *, add: bool
    ) -> None:
        """Add or remove entries; a segment pushing the environment over budget becomes large."""
        if key in self.large:
            self.large[key] = position
            return
        members = self.members.setdefault(key, Membership())
        before = len(members.included) + len(members.excluded)
        if add:
            members.included.update(included)
            members.excluded.update(excluded)
        else:
            members.included.difference_update(included)
            members.excluded.difference_update(excluded)
        self.held += len(members.included) + len(members.excluded) - before
        if self.held > self.member_budget:
            self.clear_members(key)
            self.large[key] = position

    def clear_members(self, key: str) -> None:
        """Forget a segment's entries (it is empty, or gone); an empty segment is small again."""
        members = self.members.pop(key, None)
        if members is not None:
            self.held -= len(members.included) + len(members.excluded)
        self.large.pop(key, None)

    def commit(self, position: int, delta: DeltaBuilder) -> Delta | None:
        """Close one event's changes: a Delta at `position` (kept in history), or None if nothing changed."""
        if delta.empty():
            return None
        result = Delta(
            environment_id=self.environment_id,
            sequence=position,
            previous=self.sequence,
            flags=tuple(delta.flags.values()),
            removed_flag_keys=tuple(delta.removed_flags),
            rule_segments=tuple(delta.rules.values()),
            list_segments=tuple(delta.lists.values()),
            removed_segment_keys=tuple(delta.removed_segments),
            changed_list_segment_keys=tuple(delta.changed_lists),
        )
        self.sequence = position
        self.history.append(result)
        return result

    # Reads
    def snapshot(self) -> Snapshot:
        """The current definitions, sorted by key (deterministic bytes on every replica)."""
        return Snapshot(
            environment_id=self.environment_id,
            sequence=self.sequence,
            flags=tuple(self.flags[k].definition for k in sorted(self.flags)),
            rule_segments=tuple(self.rule_segments[k] for k in sorted(self.rule_segments)),
            list_segments=tuple(self.list_segments[k] for k in sorted(self.list_segments)),
        )

    def deltas_since(self, since: int) -> list[Delta] | None:
        """The deltas after `since`, in order; None unless `since` is a retained point of this history."""
        if since == self.sequence:
            return []
        if since > self.sequence or not self.history or since < self.history[0].previous:
            return None
        missed = [d for d in self.history if d.sequence > since]
        if not missed or missed[0].previous != since:
            return None
        return missed
