"""A tiny in-memory event log and a builder of valid flag/segment/tenancy events (no services)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from domain.codec import encode_event, stream_type_of, type_of
from domain.conditions.ast import Attribute, Condition, Leaf, Op
from domain.envelope import Metadata, RecordedEvent
from domain.events import Event
from domain.flags.events import (
    FlagConfigCreated,
    FlagCreated,
    FlagDeleted,
    FlagDisabled,
    FlagEnabled,
    FlagRulesReplaced,
)
from domain.flags.flag import flag_stream
from domain.flags.flag_config import flag_config_stream
from domain.flags.model import FlagConfig, Rule, Serve, ValueType, Variant
from domain.ids import stream_id
from domain.segments.events import (
    SegmentConditionReplaced,
    SegmentCreated,
    SegmentDeleted,
    SegmentKind,
    SegmentMembersAdded,
    SegmentMembersCleared,
    SegmentMembersRemoved,
)
from domain.tenancy.events import EnvironmentCreated, SdkKeyIssued, SdkKeyRevoked
from domain.tenancy.sdk_keys import display_prefix, hash_sdk_key

NOW = datetime(2026, 1, 1, tzinfo=UTC)
VARIANTS = (Variant(key="on", value=True), Variant(key="off", value=False))


def plan_is(value: str) -> Condition:
    """A leaf condition on the user's `plan` parameter."""
    return Leaf(attribute=Attribute("user", "plan"), op=Op.EQ, value=value)


def in_segment(key: str) -> Condition:
    """A leaf matching users in segment `key`."""
    return Leaf(attribute=Attribute("user"), op=Op.IN_SEGMENT, value=key)


class MemoryLog:
    """Stored events with gapless positions; `read_all` like the event store's."""

    def __init__(self) -> None:
        self.records: list[RecordedEvent] = []

    def append(self, event: Event) -> RecordedEvent:
        record = RecordedEvent(
            position=len(self.records) + 1,
            stream_id=event.stream_id,
            stream_type=stream_type_of(event),
            version=event.version,
            event_id=uuid4(),
            type=type_of(event),
            data=encode_event(event),
            metadata=Metadata(),
            recorded_at=event.occurred_at,
        )
        self.records.append(record)
        return record

    async def read_all(self, after_position: int, limit: int = 1000) -> Sequence[RecordedEvent]:
        return self.records[after_position : after_position + limit]


class World:
    """Appends valid events for one project; tracks stream versions so events always fold."""

    def __init__(self, log: MemoryLog | None = None) -> None:
        self.log = log or MemoryLog()
        self.project_id = uuid4()
        self.versions: dict[UUID, int] = {}

    def _next(self, stream: UUID) -> int:
        self.versions[stream] = self.versions.get(stream, 0) + 1
        return self.versions[stream]

    def add(self, event_type: type[Event], stream: UUID, **fields: Any) -> RecordedEvent:
        event = event_type(stream_id=stream, version=self._next(stream), occurred_at=NOW, **fields)
        return self.log.append(event)

    def environment(self, env_id: UUID | None = None) -> UUID:
        env = env_id or uuid4()
        self.add(EnvironmentCreated, env, org_id=uuid4(), project_id=self.project_id, name=f"env-{env}")
        return env

    def issue_key(self, env: UUID, raw: str | None = None) -> tuple[str, UUID]:
        raw = raw or "sdk_live_" + uuid4().hex + uuid4().hex
        key_id = uuid4()
        self.add(
            SdkKeyIssued, env, key_id=key_id, name="k", key_hash=hash_sdk_key(raw), prefix=display_prefix(raw)
        )
        return raw, key_id

    def revoke_key(self, env: UUID, key_id: UUID) -> None:
        self.add(SdkKeyRevoked, env, key_id=key_id)

    def create_flag(self, key: str) -> RecordedEvent:
        return self.add(
            FlagCreated, flag_stream(self.project_id, key), project_id=self.project_id, key=key,
            value_type=ValueType.BOOL, variants=VARIANTS,
        )  # fmt: skip

    def delete_flag(self, key: str) -> RecordedEvent:
        return self.add(FlagDeleted, flag_stream(self.project_id, key))

    def configure(
        self, env: UUID, key: str, *, enabled: bool = True, rules: tuple[Rule, ...] = ()
    ) -> RecordedEvent:
        config = FlagConfig(
            enabled=enabled, off_variant="off", fallthrough=Serve(variant_key="off"), rules=rules
        )
        return self.add(
            FlagConfigCreated, flag_config_stream(env, key), project_id=self.project_id, environment_id=env,
            key=key, config=config,
        )  # fmt: skip

    def set_enabled(self, env: UUID, key: str, enabled: bool) -> RecordedEvent:
        return self.add(FlagEnabled if enabled else FlagDisabled, flag_config_stream(env, key))

    def replace_rules(self, env: UUID, key: str, condition: Condition, rule_id: str = "r1") -> RecordedEvent:
        rule = Rule(id=rule_id, condition=condition, serve=Serve(variant_key="on"))
        return self.add(FlagRulesReplaced, flag_config_stream(env, key), rules=(rule,))

    def create_segment(self, env: UUID, key: str, condition: Condition | None = None) -> RecordedEvent:
        kind = SegmentKind.LIST if condition is None else SegmentKind.RULE
        return self.add(
            SegmentCreated, stream_id("segment", env, key), environment_id=env, key=key, kind=kind,
            context_type="user", condition=condition,
        )  # fmt: skip

    def replace_condition(self, env: UUID, key: str, condition: Condition) -> RecordedEvent:
        return self.add(SegmentConditionReplaced, stream_id("segment", env, key), condition=condition)

    def delete_segment(self, env: UUID, key: str) -> RecordedEvent:
        return self.add(SegmentDeleted, stream_id("segment", env, key))

    def add_members(
        self, env: UUID, key: str, included: tuple[str, ...] = (), excluded: tuple[str, ...] = ()
    ) -> RecordedEvent:
        return self.add(
            SegmentMembersAdded, stream_id("segment", env, key), included=included, excluded=excluded
        )

    def remove_members(self, env: UUID, key: str, included: tuple[str, ...] = ()) -> RecordedEvent:
        return self.add(SegmentMembersRemoved, stream_id("segment", env, key), included=included)

    def clear_members(self, env: UUID, key: str) -> RecordedEvent:
        return self.add(SegmentMembersCleared, stream_id("segment", env, key))
