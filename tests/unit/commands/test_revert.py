"""Properties of changesets, revert and time travel over random histories (in-memory store, no services).

- For every position N, the definitions document as of N equals what an SDK that applied the
  broadcaster's deltas up to N holds (the full DefinitionsCache fold over every environment's events).
- Reverting the changeset just applied gives back the document as it was before it (stream versions
  aside: compensation appends new versions).
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.bus import CommandBus
from commands.encoding import decode_recorded
from commands.eventstore import RecordedEvent
from commands.flags import AddFlagRule, ExpectFlagConfig
from commands.memory_store import InMemoryEventStore
from commands.revert import RevertChangeset
from commands.streams import Scope
from commands.tenancy import create_environment, create_org, create_project
from domain.conditions.ast import Attribute, Leaf, Op
from domain.errors import DomainError
from domain.events import Command
from domain.flags.commands import ConfigureFlag, CreateFlag, ReplaceFlagRules, SetFallthrough, SetFlagEnabled
from domain.flags.model import FlagConfig, Rule, Serve, ValueType, Variant
from domain.segments.commands import AddSegmentMembers, CreateSegment, DeleteSegment, RemoveSegmentMembers
from domain.segments.events import (
    SegmentCreated,
    SegmentDeleted,
    SegmentKind,
    SegmentMembersAdded,
    SegmentMembersCleared,
    SegmentMembersRemoved,
)
from domain.segments.segment import segment_stream
from domain.tenancy.commands import CreateEnvironment, CreateOrg, CreateProject
from readmodels.definitions_document import DefinitionsDocument, document_of
from readmodels.definitions_fold import RELEVANT_PREFIXES, Folder
from tests.unit.commands.bus_support import NOW, memory_bus

FLAGS, SEGMENTS = ("x", "y"), ("a", "b")
VARIANTS = (Variant(key="off", value=False), Variant(key="on", value=True))
Op_ = tuple[str, str, Any]
ops = st.one_of(
    st.tuples(st.just("segment"), st.sampled_from(SEGMENTS), st.none()),
    st.tuples(st.just("drop_segment"), st.sampled_from(SEGMENTS), st.none()),
    st.tuples(st.just("members"), st.sampled_from(SEGMENTS), st.sampled_from(["u1", "u2", "u3"])),
    st.tuples(st.just("no_members"), st.sampled_from(SEGMENTS), st.sampled_from(["u1", "u2"])),
    st.tuples(st.just("rule"), st.sampled_from(FLAGS), st.sampled_from(SEGMENTS)),
    st.tuples(st.just("no_rules"), st.sampled_from(FLAGS), st.none()),
    st.tuples(st.just("enabled"), st.sampled_from(FLAGS), st.booleans()),
    st.tuples(st.just("serve"), st.sampled_from(FLAGS), st.sampled_from(["off", "on"])),
)
steps = st.lists(st.one_of(st.lists(ops, min_size=1, max_size=4), st.just("revert")), min_size=1, max_size=8)


async def _world(store: InMemoryEventStore) -> Scope:
    org, project, env = uuid4(), uuid4(), uuid4()
    clock = lambda: NOW  # noqa: E731
    await create_org(
        CreateOrg(command_id=uuid4(), org_id=org, name="Acme"), store=store, clock=clock, actor="t"
    )
    await create_project(CreateProject(command_id=uuid4(), project_id=project, org_id=org, name="Web"),
                         store=store, clock=clock, actor="t", taken_names=frozenset())  # fmt: skip
    make = CreateEnvironment(
        command_id=uuid4(), environment_id=env, org_id=org, project_id=project, name="prod"
    )
    await create_environment(make, store=store, clock=clock, actor="t", taken_names=frozenset())
    return Scope(actor="t", org_id=org, project_id=project, environment_id=env)


def _commands(op: Op_, scope: Scope, cid: UUID) -> list[Command]:
    kind, key, arg = op
    env = scope.environment_id
    flag: dict[str, Any] = {"project_id": scope.project_id, "environment_id": env, "key": key}
    match kind:
        case "segment":
            return [CreateSegment(command_id=cid, environment_id=env, key=key, kind=SegmentKind.LIST,
                                  context_type="user", included=("u1",))]  # fmt: skip
        case "drop_segment":
            return [DeleteSegment(command_id=cid, environment_id=env, key=key)]
        case "members":
            return [AddSegmentMembers(command_id=cid, environment_id=env, key=key, included=(arg,))]
        case "no_members":
            return [RemoveSegmentMembers(command_id=cid, environment_id=env, key=key, included=(arg,))]
        case "rule":
            rule = Rule(
                id="", condition=Leaf(Attribute("user"), Op.IN_SEGMENT, arg), serve=Serve(variant_key="on")
            )
            cmd: Command = AddFlagRule(command_id=cid, **flag, rule=rule)
        case "no_rules":
            cmd = ReplaceFlagRules(command_id=cid, **flag, rules=())
        case "enabled":
            cmd = SetFlagEnabled(command_id=cid, **flag, enabled=arg)
        case _:
            cmd = SetFallthrough(command_id=cid, **flag, fallthrough=Serve(variant_key=arg))
    return [ExpectFlagConfig(command_id=cid, **flag), cmd]


async def _flags(bus: CommandBus, scope: Scope) -> None:
    for key in FLAGS:
        cid = uuid4()
        make = CreateFlag(command_id=cid, project_id=scope.project_id, key=key, value_type=ValueType.BOOL,
                          variants=VARIANTS)  # fmt: skip
        config = FlagConfig(enabled=False, off_variant="off", fallthrough=Serve(variant_key="off"))
        configure = ConfigureFlag(command_id=cid, project_id=scope.project_id,
                                  environment_id=scope.environment_id, key=key, config=config)  # fmt: skip
        await bus.handle_changeset([make, configure], scope, command_id=cid)
    seeded = uuid4()  # segment "a" exists before the random steps
    await bus.handle_changeset(
        _commands(("segment", SEGMENTS[0], None), scope, seeded), scope, command_id=seeded
    )


def _pairs(records: list[RecordedEvent], scope: Scope, upto: int) -> list[tuple[int, Any]]:
    """What definitions_as_of selects: this environment's events and its project's flag events."""
    return [
        (r.position, decode_recorded(r))
        for r in records
        if r.position <= upto and r.type.startswith(RELEVANT_PREFIXES)
        and (r.metadata.environment_id == scope.environment_id
             or (r.stream_type == "flag" and r.metadata.project_id == scope.project_id))
    ]  # fmt: skip


async def _members(store: InMemoryEventStore, scope: Scope) -> dict[str, Any]:
    """Each segment's included and excluded keys (SDKs fetch these apart from the document)."""
    found: dict[str, Any] = {}
    for key in SEGMENTS:
        held: dict[str, set[str]] = {"included": set(), "excluded": set()}
        for event in (
            decode_recorded(r) for r in await store.load(segment_stream(scope.environment_id, key))
        ):
            if isinstance(event, SegmentCreated | SegmentDeleted | SegmentMembersCleared):
                held = {"included": set(), "excluded": set()}
            for part in ("included", "excluded"):
                change = set(getattr(event, part, ()))
                if isinstance(event, SegmentMembersAdded):
                    held[part] |= change
                elif isinstance(event, SegmentMembersRemoved):
                    held[part] -= change
        found[key] = held
    return found


def _unversioned(doc: DefinitionsDocument) -> Any:
    builtins = msgspec.to_builtins(doc)
    return {k: [{f: v for f, v in o.items() if f != "version"} for o in builtins.get(k, [])]
            for k in ("flags", "rule_segments", "list_segments")}  # fmt: skip


def _sdk_states(records: list[RecordedEvent], env: UUID) -> dict[int, Any]:
    """After each position, the environment's definitions as an SDK applying the deltas holds them."""
    folder = Folder(history_limit=0)
    held: dict[str, dict[str, Any]] = {"flags": {}, "rule_segments": {}, "list_segments": {}}
    sequence, states = 0, {}
    for r in records:
        if r.type.startswith(RELEVANT_PREFIXES):
            deltas, _ = folder.apply(r.position, decode_recorded(r))
            for d in (d for d in deltas if d.environment_id == env):
                sequence = d.sequence
                held["flags"].update({f.key: f for f in d.flags})
                for k in d.removed_flag_keys:
                    held["flags"].pop(k, None)
                for k in d.removed_segment_keys:
                    held["rule_segments"].pop(k, None)
                    held["list_segments"].pop(k, None)
                held["rule_segments"].update({s.key: s for s in d.rule_segments})
                held["list_segments"].update({s.key: s for s in d.list_segments})
        env_now = folder.envs.get(env)
        if env_now is not None and sequence == 0:  # the SDK's first snapshot: the empty environment
            sequence = env_now.sequence
        parts = {part: tuple(v for _, v in sorted(held[part].items())) for part in held}
        states[r.position] = DefinitionsDocument(
            environment_id=env, sequence=sequence, flags=parts["flags"],
            rule_segments=parts["rule_segments"], list_segments=parts["list_segments"],
        )  # fmt: skip
    return states


async def _scenario(plan: list[Any]) -> None:
    store = InMemoryEventStore()
    scope = await _world(store)
    bus = memory_bus(store)
    await _flags(bus, scope)
    last: tuple[UUID, DefinitionsDocument, dict[str, Any]] | None = None
    for step in plan:
        records = await store.read_all(0, limit=10_000)
        now = document_of(scope.environment_id, _pairs(records, scope, await store.head_position()))
        members = await _members(store, scope)
        try:
            if step == "revert":
                if last is None:
                    continue
                changeset, before, members_before = last
                cmd = RevertChangeset(command_id=uuid4(), changeset_id=changeset, project_id=scope.project_id,
                                      environment_id=scope.environment_id)  # fmt: skip
                await bus.handle(cmd, scope)
                after = document_of(
                    scope.environment_id, _pairs(await store.read_all(0, limit=10_000), scope, 10**9)
                )
                assert _unversioned(after) == _unversioned(before)
                assert await _members(store, scope) == members_before
                last = None
                continue
            cid = uuid4()
            outcome = await bus.handle_changeset(
                [c for op in step for c in _commands(op, scope, cid)], scope, command_id=cid
            )
            last = (cid, now, members) if outcome.written else None
        except DomainError:
            continue
    records = await store.read_all(0, limit=10_000)
    sdk = _sdk_states(records, scope.environment_id)
    for position, held in sdk.items():
        assert document_of(scope.environment_id, _pairs(records, scope, position)) == held


def test_as_of_equals_the_sdk_state_and_revert_restores_the_state_before() -> None:
    @settings(max_examples=150, deadline=None)
    @given(steps)
    def check(plan: list[Any]) -> None:
        asyncio.run(_scenario(plan))

    check()
