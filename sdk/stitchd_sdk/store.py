"""The SDK's in-memory definitions: compiled flags and segments, applied from sync messages.

State is an immutable `Definitions` value swapped in one assignment, so evaluating threads never
lock and never see half of a delta. Applying follows `flag_sync.proto`: a snapshot replaces all, a
delta upserts and removes by key, a heartbeat only refreshes; a non-snapshot message whose sequence
is not above the applied one is ignored (a duplicate after a reconnect).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from domain.compiled import CompiledFlag, compile_flag
from domain.flags.model import ListSegmentMeta, RuleSegment
from schemas.flag_wire import flag_from_proto, list_segment_meta_from_proto, rule_segment_from_proto
from schemas.generated.stitchd.flags import v1 as flags_pb
from schemas.generated.stitchd.segments import v1 as segments_pb
from schemas.wire import WireFormatError
from stitchd_sdk.types import SyncUpdate

log = logging.getLogger("stitchd_sdk")


@dataclass(frozen=True)
class Definitions:
    """One consistent view of an environment's definitions at `sequence`."""

    sequence: int = 0
    environment_id: str = ""
    flags: dict[str, CompiledFlag] = field(default_factory=dict)
    rule_segments: dict[str, RuleSegment] = field(default_factory=dict)
    list_segments: dict[str, ListSegmentMeta] = field(default_factory=dict)


class DefinitionStore:
    """Holds the current `Definitions`; `apply` is called from one task, reads from any thread."""

    def __init__(self) -> None:
        self.current = Definitions()
        self.has_snapshot = False
        self.rejected = 0  # definitions that could not be decoded (logged, skipped)

    def reset(self) -> None:
        """Forget everything (definitions that turned out not to be this key's)."""
        self.current = Definitions()
        self.has_snapshot = False

    @property
    def sequence(self) -> int:
        """The last applied definition sequence (0 before the first snapshot)."""
        return self.current.sequence

    def apply(self, msg: flags_pb.SyncResponse) -> SyncUpdate | None:
        """Apply one message; the update it made, or None for a heartbeat or an already-applied delta."""
        if msg.is_snapshot:
            return self._snapshot(msg)
        if msg.is_heartbeat or msg.sequence_number <= self.current.sequence or not self.has_snapshot:
            return None
        return self._delta(msg)

    def _snapshot(self, msg: flags_pb.SyncResponse) -> SyncUpdate:
        flags = self._flags(msg.flags)
        rules, lists = self._segments(msg.rule_segments, msg.list_segments)
        env = msg.environment_id or self.current.environment_id
        self.current = Definitions(msg.sequence_number, env, flags, rules, lists)
        self.has_snapshot = True
        return _update(msg, tuple(flags), (*rules, *lists))

    def _delta(self, msg: flags_pb.SyncResponse) -> SyncUpdate:
        old = self.current
        flags = dict(old.flags)
        rules = dict(old.rule_segments)
        lists = dict(old.list_segments)
        for key in msg.removed_flag_keys:
            flags.pop(key, None)
        for key in msg.removed_segment_keys:
            rules.pop(key, None)
            lists.pop(key, None)
        new_flags = self._flags(msg.flags)
        for key in {f.key for f in msg.flags} - set(new_flags):
            flags.pop(key, None)  # undecodable or archived: no longer served
        flags.update(new_flags)
        new_rules, new_lists = self._segments(msg.rule_segments, msg.list_segments)
        for key in new_rules:
            lists.pop(key, None)
        for key in new_lists:
            rules.pop(key, None)
        rules.update(new_rules)
        lists.update(new_lists)
        env = msg.environment_id or old.environment_id
        self.current = Definitions(msg.sequence_number, env, flags, rules, lists)
        return _update(msg, tuple(new_flags), (*new_rules, *new_lists))

    def _flags(self, msgs: list[flags_pb.FeatureFlag]) -> dict[str, CompiledFlag]:
        out: dict[str, CompiledFlag] = {}
        for msg in msgs:
            try:
                definition = flag_from_proto(msg)
            except WireFormatError as exc:
                self.rejected += 1
                log.warning("skipping flag %r: %s", msg.key, exc)
                continue
            if not definition.archived:
                out[definition.key] = compile_flag(definition)
        return out

    def _segments(
        self, rule_msgs: list[segments_pb.RuleSegment], list_msgs: list[segments_pb.ListSegmentMeta]
    ) -> tuple[dict[str, RuleSegment], dict[str, ListSegmentMeta]]:
        rules: dict[str, RuleSegment] = {}
        lists: dict[str, ListSegmentMeta] = {}
        for rule_msg in rule_msgs:
            try:
                rules[rule_msg.key] = rule_segment_from_proto(rule_msg)
            except WireFormatError as exc:
                self.rejected += 1
                log.warning("skipping segment %r: %s", rule_msg.key, exc)
        for list_msg in list_msgs:
            try:
                lists[list_msg.key] = list_segment_meta_from_proto(list_msg)
            except WireFormatError as exc:
                self.rejected += 1
                log.warning("skipping segment %r: %s", list_msg.key, exc)
        return rules, lists


def _update(
    msg: flags_pb.SyncResponse, flag_keys: tuple[str, ...], segment_keys: tuple[str, ...]
) -> SyncUpdate:
    return SyncUpdate(
        sequence=msg.sequence_number,
        is_snapshot=msg.is_snapshot,
        upserted_flag_keys=flag_keys,
        removed_flag_keys=tuple(msg.removed_flag_keys),
        upserted_segment_keys=segment_keys,
        removed_segment_keys=tuple(msg.removed_segment_keys),
        changed_list_segment_keys=tuple(msg.changed_list_segment_keys),
    )
