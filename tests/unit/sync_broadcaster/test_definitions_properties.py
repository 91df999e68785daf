"""Properties of the cache and the sync wire: determinism, and SDK-side application equals the cache."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.flags.model import FlagDefinition, ListSegmentMeta, RuleSegment
from readmodels.definitions import DefinitionsCache, Delta, Snapshot
from schemas.flag_wire import flag_from_proto, list_segment_meta_from_proto, rule_segment_from_proto
from schemas.generated.stitchd.flags.v1 import SyncResponse
from sync_broadcaster.wire import delta_message, snapshot_message
from tests.unit.sync_broadcaster.world import World, in_segment, plan_is

FLAGS = ("a", "b", "c")
SEGMENTS = ("s1", "s2", "s3")
OPS = st.tuples(
    st.sampled_from(
        ["create_flag", "delete_flag", "configure", "toggle", "rules", "rule_segment", "list_segment",
         "condition", "delete_segment", "add", "remove", "clear"]
    ),
    st.sampled_from(FLAGS),
    st.sampled_from(SEGMENTS),
    st.sampled_from(["ann", "bob", "cy"]),
    st.integers(min_value=0, max_value=1),
)  # fmt: skip


class Model:
    """Which objects exist, so generated operations only append valid histories."""

    def __init__(self, world: World, envs: list[UUID]) -> None:
        self.world = world
        self.envs = envs
        self.flags: set[str] = set()
        self.configured: set[tuple[UUID, str]] = set()
        self.segments: dict[tuple[UUID, str], str] = {}

    def run(self, op: tuple[str, str, str, str, int]) -> None:
        name, flag, segment, who, which = op
        env = self.envs[which % len(self.envs)]
        w = self.world
        live = (env, segment) in self.segments
        if name == "create_flag" and flag not in self.flags:
            self.flags.add(flag)
            w.create_flag(flag)
        elif name == "delete_flag" and flag in self.flags:
            self.flags.discard(flag)
            w.delete_flag(flag)
        elif name == "configure" and flag in self.flags and (env, flag) not in self.configured:
            self.configured.add((env, flag))
            w.configure(env, flag, enabled=bool(which))
        elif name == "toggle" and (env, flag) in self.configured:
            w.set_enabled(env, flag, bool(which))
        elif name == "rules" and (env, flag) in self.configured:
            w.replace_rules(env, flag, in_segment(segment) if which else plan_is(who))
        elif name in ("rule_segment", "list_segment") and not live:
            self.segments[(env, segment)] = name
            w.create_segment(env, segment, plan_is(who) if name == "rule_segment" else None)
        elif name == "condition" and self.segments.get((env, segment)) == "rule_segment":
            w.replace_condition(env, segment, plan_is(who))
        elif name == "delete_segment" and live:
            del self.segments[(env, segment)]
            w.delete_segment(env, segment)
        elif name in ("add", "remove", "clear") and self.segments.get((env, segment)) == "list_segment":
            {"add": lambda: w.add_members(env, segment, included=(who,)),
             "remove": lambda: w.remove_members(env, segment, included=(who,)),
             "clear": lambda: w.clear_members(env, segment)}[name]()  # fmt: skip


class Client:
    """An SDK's view, built only from SyncResponse messages as the proto documents applying them."""

    def __init__(self) -> None:
        self.sequence = 0
        self.flags: dict[str, FlagDefinition] = {}
        self.rules: dict[str, RuleSegment] = {}
        self.lists: dict[str, ListSegmentMeta] = {}

    def apply(self, msg: SyncResponse) -> None:
        if msg.is_snapshot:
            self.flags, self.rules, self.lists = {}, {}, {}
        elif msg.sequence_number <= self.sequence:
            return
        for key in [*msg.removed_segment_keys]:
            self.rules.pop(key, None)
            self.lists.pop(key, None)
        for key in msg.removed_flag_keys:
            self.flags.pop(key, None)
        self.flags.update((f.key, flag_from_proto(f)) for f in msg.flags)
        self.rules.update((s.key, rule_segment_from_proto(s)) for s in msg.rule_segments)
        self.lists.update((s.key, list_segment_meta_from_proto(s)) for s in msg.list_segments)
        self.sequence = msg.sequence_number

    def as_snapshot(self, env: UUID) -> Snapshot:
        return Snapshot(
            environment_id=env,
            sequence=self.sequence,
            flags=tuple(self.flags[k] for k in sorted(self.flags)),
            rule_segments=tuple(self.rules[k] for k in sorted(self.rules)),
            list_segments=tuple(self.lists[k] for k in sorted(self.lists)),
        )


def wire(msg: SyncResponse) -> SyncResponse:
    """Through bytes, as an SDK receives it."""
    return SyncResponse().parse(bytes(msg))


def build(ops: list[tuple[str, str, str, str, int]]) -> tuple[World, list[UUID]]:
    world = World()
    envs = [world.environment(), world.environment()]
    model = Model(world, envs)
    for op in ops:
        model.run(op)
    return world, envs


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=40), st.integers(min_value=0, max_value=40))
def test_a_client_applying_snapshot_then_deltas_holds_what_the_cache_holds(
    ops: list[tuple[str, str, str, str, int]], cut: int
) -> None:
    world, envs = build(ops)
    cache = DefinitionsCache()
    seen: list[Delta] = []
    cache.subscribe(seen.append)
    records = world.log.records
    cut = min(max(cut, 2), len(records))  # SDKs connect once both environments exist
    for record in records[:cut]:
        cache.apply(record)
    clients = {env: Client() for env in envs}
    for env, client in clients.items():
        snapshot = cache.snapshot(env)
        if snapshot is not None:
            client.apply(wire(snapshot_message(snapshot, 0)))
    seen.clear()
    for record in records[cut:]:
        cache.apply(record)
    for delta in seen:
        clients[delta.environment_id].apply(wire(delta_message(delta, 0)))
    for env, client in clients.items():
        assert client.as_snapshot(env) == cache.snapshot(env)


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=40))
def test_two_caches_fed_the_same_events_agree_on_state_sequences_and_history(
    ops: list[tuple[str, str, str, str, int]],
) -> None:
    world, envs = build(ops)
    first, second = DefinitionsCache(), DefinitionsCache(history_limit=5)
    for record in world.log.records:
        first.apply(record)
        second.apply(record)
    for env in envs:
        assert first.snapshot(env) == second.snapshot(env)
        a, b = first.environment(env), second.environment(env)
        assert a is not None
        assert b is not None
        assert list(a.history)[-5:] == list(b.history)
        for delta in b.history:  # every retained point replays to the same tail on both
            assert first.deltas_since(env, delta.previous) == second.deltas_since(env, delta.previous)
