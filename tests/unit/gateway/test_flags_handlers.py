"""Flag, segment and experiment handlers against the in-memory event store (no services)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands import flags as handlers
from commands import segments as segment_handlers
from commands.experiments import handle_experiment
from commands.memory_store import InMemoryEventStore
from commands.streams import Scope
from domain.conditions.ast import Attribute, Leaf, Op
from domain.errors import FlagAlreadyExists, SegmentInUse, UnknownSegment, VersionMismatch
from domain.experiments.commands import CreateExperiment
from domain.flags.commands import CreateFlag, DeleteFlag
from domain.flags.model import FlagConfig, Rule, Serve, ValueType, Variant
from domain.segments.commands import CreateSegment, DeleteSegment
from domain.segments.events import SegmentKind

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SCOPE = Scope(actor="ann", org_id=uuid4(), project_id=uuid4(), environment_id=uuid4())
VARIANTS = (Variant(key="off", value=False), Variant(key="on", value=True))


def deps(store: InMemoryEventStore, segments: frozenset[str] = frozenset()) -> handlers.FlagDeps:
    async def segment_keys(_: UUID, wanted: frozenset[str]) -> frozenset[str]:
        return wanted & segments

    return handlers.FlagDeps(store=store, clock=lambda: NOW, segment_keys=segment_keys)


def create(command_id: UUID | None = None, key: str = "checkout") -> CreateFlag:
    return CreateFlag(
        command_id=command_id or uuid4(),
        project_id=SCOPE.project_id,
        key=key,
        value_type=ValueType.BOOL,
        variants=VARIANTS,
    )


def rules_on(segment: str) -> handlers.ConfigPatch:
    rule = Rule(
        id="r1", condition=Leaf(Attribute("user"), Op.IN_SEGMENT, segment), serve=Serve(variant_key="on")
    )
    return lambda c: msgspec.structs.replace(c, rules=(rule,))


def enabled(c: FlagConfig) -> FlagConfig:
    return msgspec.structs.replace(c, enabled=True)


async def test_repeated_create_returns_the_first_result_and_appends_nothing() -> None:
    store = InMemoryEventStore()
    cid = uuid4()
    first = await handlers.create_flag(create(cid), enabled, SCOPE, deps(store))
    head = await store.head_position()
    again = await handlers.create_flag(create(cid), enabled, SCOPE, deps(store))
    assert again.position == first.position
    assert await store.head_position() == head
    with pytest.raises(FlagAlreadyExists):
        await handlers.create_flag(create(), enabled, SCOPE, deps(store))


async def test_a_refused_config_leaves_no_half_created_flag() -> None:
    store = InMemoryEventStore()
    with pytest.raises(UnknownSegment):
        await handlers.create_flag(create(), rules_on("ghost"), SCOPE, deps(store))
    assert await store.head_position() == 0
    await handlers.create_flag(create(), rules_on("ghost"), SCOPE, deps(store, frozenset({"ghost"})))
    definition = await handlers.current_definition(store, SCOPE, "checkout")
    assert definition.config.rules[0].id == "r1"
    assert definition.version == 1


async def test_stale_version_is_refused_and_current_one_applies() -> None:
    store = InMemoryEventStore()
    await handlers.create_flag(create(), enabled, SCOPE, deps(store))
    patch = rules_on("beta")
    with pytest.raises(VersionMismatch):
        await handlers.patch_config(
            SCOPE,
            "checkout",
            patch,
            expected_version=0,
            command_id=uuid4(),
            deps=deps(store, frozenset({"beta"})),
        )
    done = await handlers.patch_config(
        SCOPE,
        "checkout",
        patch,
        expected_version=1,
        command_id=uuid4(),
        deps=deps(store, frozenset({"beta"})),
    )
    assert done.version == 2


async def test_revert_restores_an_earlier_config_with_new_events() -> None:
    store = InMemoryEventStore()
    created = await handlers.create_flag(create(), enabled, SCOPE, deps(store))
    fdeps = deps(store, frozenset({"beta"}))
    await handlers.patch_config(
        SCOPE, "checkout", rules_on("beta"), expected_version=None, command_id=uuid4(), deps=fdeps
    )
    reverted = await handlers.revert_config(
        SCOPE, "checkout", created.position, expected_version=2, command_id=uuid4(), deps=fdeps
    )
    definition = await handlers.current_definition(store, SCOPE, "checkout")
    assert definition.config.rules == ()
    assert definition.config.enabled
    assert reverted.version == 3


async def test_delete_removes_every_environment_config() -> None:
    store = InMemoryEventStore()
    other = msgspec.structs.replace(SCOPE, environment_id=uuid4())
    await handlers.create_flag(create(), enabled, SCOPE, deps(store))
    await handlers.patch_config(
        other, "checkout", enabled, expected_version=0, command_id=uuid4(), deps=deps(store)
    )

    async def configured(_: UUID, __: str) -> list[UUID]:
        return [other.environment_id]

    fdeps = msgspec.structs.replace(deps(store), configured_environments=configured)
    cmd = DeleteFlag(command_id=uuid4(), project_id=SCOPE.project_id, key="checkout")
    await handlers.delete_flag(cmd, SCOPE, fdeps, config_version=1)
    for scope in (SCOPE, other):
        state = await handlers.load_config(store, scope.environment_id, "checkout")
        assert state is not None
        assert state.deleted


async def test_referenced_segment_delete_is_refused() -> None:
    store = InMemoryEventStore()

    async def graph(_: UUID) -> dict[str, frozenset[str]]:
        return {}

    async def used(_: UUID, key: str) -> frozenset[str]:
        return frozenset({"flag:checkout"}) if key == "beta" else frozenset()

    sdeps = segment_handlers.SegmentDeps(
        store=store, clock=lambda: NOW, segment_graph=graph, referenced_by=used
    )
    for key in ("beta", "gamma"):
        seg = CreateSegment(
            command_id=uuid4(),
            environment_id=SCOPE.environment_id,
            key=key,
            kind=SegmentKind.LIST,
            context_type="user",
        )
        await segment_handlers.create_segment(seg, SCOPE, sdeps)
    with pytest.raises(SegmentInUse):
        await segment_handlers.delete_segment(
            DeleteSegment(command_id=uuid4(), environment_id=SCOPE.environment_id, key="beta"), SCOPE, sdeps
        )
    gone = DeleteSegment(command_id=uuid4(), environment_id=SCOPE.environment_id, key="gamma")
    assert (await segment_handlers.delete_segment(gone, SCOPE, sdeps)).version == 2


async def test_experiment_needs_the_flags_variants() -> None:
    store = InMemoryEventStore()
    await handlers.create_flag(create(), enabled, SCOPE, deps(store))
    cmd = CreateExperiment(
        command_id=uuid4(),
        experiment_id=uuid4(),
        environment_id=SCOPE.environment_id,
        flag_key="checkout",
        name="Test",
        variant_keys=("off", "on"),
        control_variant="off",
    )
    written = await handle_experiment(cmd, SCOPE, store=store, clock=lambda: NOW)
    assert written.version == 1


def test_revert_to_any_earlier_position_restores_that_config() -> None:
    """Property: after any sequence of config changes, reverting to position p yields the config at p."""
    changes = st.lists(
        st.tuples(st.booleans(), st.sampled_from(["off", "on"]), st.booleans()), min_size=1, max_size=6
    )

    @settings(max_examples=40, deadline=None)
    @given(changes, st.data())
    def check(steps: list[tuple[bool, str, bool]], data: st.DataObject) -> None:
        asyncio.run(_revert_scenario(steps, data))

    check()


async def _revert_scenario(steps: list[tuple[bool, str, bool]], data: Any) -> None:
    store = InMemoryEventStore()
    fdeps = deps(store, frozenset({"beta"}))
    written = await handlers.create_flag(create(), enabled, SCOPE, fdeps)
    seen = [(written.position, (await handlers.current_definition(store, SCOPE, "checkout")).config)]
    for on, off_variant, with_rule in steps:
        patch = rules_on("beta") if with_rule else (lambda c: msgspec.structs.replace(c, rules=()))

        def change(c: FlagConfig, on: bool = on, off: str = off_variant, p: Any = patch) -> FlagConfig:
            patched: FlagConfig = p(c)
            return msgspec.structs.replace(patched, enabled=on, off_variant=off)

        written = await handlers.patch_config(SCOPE, "checkout", change, expected_version=None,
                                              command_id=uuid4(), deps=fdeps)  # fmt: skip
        seen.append((written.position, (await handlers.current_definition(store, SCOPE, "checkout")).config))
    position, config = data.draw(st.sampled_from(seen))
    await handlers.revert_config(
        SCOPE, "checkout", position, expected_version=None, command_id=uuid4(), deps=fdeps
    )
    assert (await handlers.current_definition(store, SCOPE, "checkout")).config == config
