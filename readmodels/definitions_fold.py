"""Folds stored events into per-environment definitions with the domain's own evolve functions.

Deterministic: the same events in position order give the same state, the same deltas and the same
sequences on every replica. Only events that change what an environment's SDKs see yield a Delta; a
flag's project-level events touch every environment of its project.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from domain.event_definitions import event_definition as evd
from domain.event_definitions.events import EventDefinitionCreated, EventDefinitionEvent
from domain.events import Event
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from domain.flags.events import FlagConfigCreated, FlagConfigEvent, FlagCreated, FlagEvent
from domain.flags.model import FlagDefinition
from domain.segments import segment as seg
from domain.segments.events import (
    SegmentCreated,
    SegmentEvent,
    SegmentMembersAdded,
    SegmentMembersCleared,
    SegmentMembersRemoved,
)
from domain.tenancy.events import EnvironmentCreated, SdkKeyIssued, SdkKeyRevoked
from readmodels.definitions_history import DEFAULT_HISTORY_BYTES, HistoryBudget
from readmodels.definitions_large import DEFAULT_MEMBER_BUDGET, AnswerCache
from readmodels.definitions_state import Delta, DeltaBuilder, EnvDefinitions

# Event type prefixes the fold reads; everything else is skipped without decoding.
RELEVANT_PREFIXES = ("flag.", "flag_config.", "segment.", "event_definition.", "environment.")


class Folder:
    """The whole fold state: aggregates by stream id plus the per-environment views."""

    def __init__(
        self,
        history_limit: int,
        member_budget: int = DEFAULT_MEMBER_BUDGET,
        answers: AnswerCache | None = None,
        history_bytes: int = DEFAULT_HISTORY_BYTES,
    ) -> None:
        self.history_limit = history_limit
        self.history_budget = HistoryBudget(history_bytes)
        self.member_budget = member_budget
        self.answers = AnswerCache() if answers is None else answers
        self.envs: dict[UUID, EnvDefinitions] = {}
        self.project_envs: dict[UUID, list[UUID]] = {}
        self.flags: dict[UUID, dfn.Flag] = {}
        self.configs: dict[UUID, cfg.FlagEnvConfig] = {}
        self.segments: dict[UUID, seg.Segment] = {}
        self.event_defs: dict[UUID, evd.EventDefinition] = {}
        self.keys: dict[str, tuple[UUID, UUID]] = {}  # key hash -> (environment, key id)
        self.key_hashes: dict[UUID, str] = {}  # key id -> key hash

    def apply(self, position: int, event: Event) -> tuple[list[Delta], set[UUID]]:
        """Fold one event; returns the deltas it caused and the environments whose SDK keys were revoked."""
        if isinstance(event, EnvironmentCreated | SdkKeyIssued | SdkKeyRevoked):
            return [], self._environment(position, event)
        if isinstance(event, FlagEvent):
            return self._flag(position, event), set()
        if isinstance(event, FlagConfigEvent):
            return self._config(position, event), set()
        if isinstance(event, SegmentEvent):
            return self._segment(position, event), set()
        if isinstance(event, EventDefinitionEvent):
            self._event_definition(event)
        return [], set()

    def _environment(
        self, position: int, event: EnvironmentCreated | SdkKeyIssued | SdkKeyRevoked
    ) -> set[UUID]:
        match event:
            case EnvironmentCreated(stream_id=env_id, project_id=project_id):
                self._new_environment(position, env_id, project_id)
            case SdkKeyIssued(stream_id=env_id, key_id=key_id, key_hash=key_hash):
                self.keys[key_hash] = (env_id, key_id)
                self.key_hashes[key_id] = key_hash
            case SdkKeyRevoked(stream_id=env_id, key_id=key_id):
                if key_id in self.key_hashes:
                    self.keys.pop(self.key_hashes.pop(key_id), None)
                return {env_id}
        return set()

    def _new_environment(self, position: int, env_id: UUID, project_id: UUID) -> None:
        env = EnvDefinitions(
            env_id,
            project_id,
            position,
            self.history_limit,
            member_budget=self.member_budget,
            answers=self.answers,
            history_budget=self.history_budget,
        )
        self.envs[env_id] = env
        self.project_envs.setdefault(project_id, []).append(env_id)
        scratch = DeltaBuilder()  # the environment starts with its project's flags; no SDK saw it before
        for flag in self.flags.values():
            if flag.project_id == project_id and not flag.deleted:
                env.set_flag(flag.key, self._definition(flag, env_id), scratch)

    def _definition(self, flag: dfn.Flag, env_id: UUID) -> FlagDefinition:
        config = self.configs.get(cfg.flag_config_stream(env_id, flag.key))
        return cfg.definition_of(flag, config, env_id)

    def _flag(self, position: int, event: FlagEvent) -> list[Delta]:
        state = self.flags.get(event.stream_id)
        if state is None and not isinstance(event, FlagCreated):
            return []
        flag = dfn.evolve(state, event)
        self.flags[event.stream_id] = flag
        deltas = []
        for env in self._envs_of(flag.project_id):
            builder = DeltaBuilder()
            defn = None if flag.deleted else self._definition(flag, env.environment_id)
            env.set_flag(flag.key, defn, builder)
            deltas.append(env.commit(position, builder))
        return [d for d in deltas if d is not None]

    def _config(self, position: int, event: FlagConfigEvent) -> list[Delta]:
        state = self.configs.get(event.stream_id)
        if state is None and not isinstance(event, FlagConfigCreated):
            return []  # a stream the fold never saw created: nothing to attach it to
        config = cfg.evolve(state, event)
        self.configs[event.stream_id] = config
        env = self.envs.get(config.environment_id)
        flag = self.flags.get(dfn.flag_stream(config.project_id, config.key))
        if env is None or flag is None or flag.deleted:
            return []
        builder = DeltaBuilder()
        env.set_flag(flag.key, cfg.definition_of(flag, config, env.environment_id), builder)
        delta = env.commit(position, builder)
        return [] if delta is None else [delta]

    def _segment(self, position: int, event: SegmentEvent) -> list[Delta]:
        state = self.segments.get(event.stream_id)
        if state is None and not isinstance(event, SegmentCreated):
            return []
        segment = seg.evolve(state, event)
        self.segments[event.stream_id] = segment
        env = self.envs.get(segment.environment_id)
        if env is None:
            return []
        builder = DeltaBuilder()
        view = seg.as_rule_segment(segment) or seg.as_list_segment_meta(segment)
        env.set_segment(segment.key, view, builder)
        if view is not None and _change_members(env, segment.key, position, event):
            builder.changed_lists[segment.key] = None
        delta = env.commit(position, builder)
        return [] if delta is None else [delta]

    def _event_definition(self, event: EventDefinitionEvent) -> None:
        state = self.event_defs.get(event.stream_id)
        if state is None and not isinstance(event, EventDefinitionCreated):
            return
        definition = evd.evolve(state, event)
        self.event_defs[event.stream_id] = definition
        env = self.envs.get(definition.environment_id)
        if env is None:
            return
        if definition.deleted:
            env.event_types.pop(definition.key, None)
        else:
            env.event_types[definition.key] = definition.value_type

    def _envs_of(self, project_id: UUID) -> Iterator[EnvDefinitions]:
        for env_id in self.project_envs.get(project_id, ()):
            yield self.envs[env_id]


def _change_members(env: EnvDefinitions, key: str, position: int, event: SegmentEvent) -> bool:
    """Apply a membership event to memory (or to a large segment's generation); True when it was one."""
    match event:
        case SegmentMembersAdded(included=inc, excluded=exc):
            env.change_members(key, position, inc, exc, add=True)
        case SegmentMembersRemoved(included=inc, excluded=exc):
            env.change_members(key, position, inc, exc, add=False)
        case SegmentMembersCleared():
            env.clear_members(key)
        case _:
            return False
    return True
