"""Flag, segment and experiment handlers through the bus, on the in-memory event store (no services)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.bus import CommandBus, Outcome
from commands.experiments import handle_experiment
from commands.flags import ExpectFlagConfig, RestoreFlagConfig
from commands.memory_store import InMemoryEventStore
from commands.streams import Scope
from domain.conditions.ast import Attribute, Leaf, Op
from domain.errors import FlagAlreadyExists, SegmentInUse, UnknownSegment, VersionMismatch
from domain.events import Command
from domain.experiments.events import CreateExperiment
from domain.flags import config as cfg
from domain.flags.commands import ConfigureFlag, CreateFlag, DeleteFlag, ReplaceFlagRules
from domain.flags.model import FlagConfig, Rule, Serve, ValueType, Variant
from domain.segments.events import CreateSegment, DeleteSegment, SegmentKind
from tests.unit.commands.bus_support import NOW, SCOPE, definition, memory_bus

VARIANTS = (Variant(key="off", value=False), Variant(key="on", value=True))
ENABLED = FlagConfig(enabled=True, off_variant="off", fallthrough=Serve(variant_key="off"))


def rule_on(segment: str) -> Rule:
    return Rule(
        id="r1", condition=Leaf(Attribute("user"), Op.IN_SEGMENT, segment), serve=Serve(variant_key="on")
    )


def ids(scope: Scope = SCOPE, key: str = "checkout") -> dict[str, Any]:
    return {"project_id": scope.project_id, "environment_id": scope.environment_id, "key": key}


async def create(bus: CommandBus, cid: UUID | None = None, config: FlagConfig = ENABLED) -> Outcome:
    """The create route's changeset: the project flag, then its config here."""
    cid = cid or uuid4()
    make = CreateFlag(command_id=cid, project_id=SCOPE.project_id, key="checkout",
                      value_type=ValueType.BOOL, variants=VARIANTS)  # fmt: skip
    configure = ConfigureFlag(command_id=cid, **ids(), config=config)
    return await bus.handle_changeset([make, configure], SCOPE, command_id=cid)


async def send(bus: CommandBus, *cmds: Command, version: int | None = None, scope: Scope = SCOPE) -> Outcome:
    """A flag route's changeset: the version check, then the commands."""
    cid = uuid4()
    expect = ExpectFlagConfig(command_id=cid, **ids(scope), expected_version=version)
    return await bus.handle_changeset([expect, *cmds], scope, command_id=cid)


def segment(key: str) -> CreateSegment:
    return CreateSegment(command_id=uuid4(), environment_id=SCOPE.environment_id, key=key,
                         kind=SegmentKind.LIST, context_type="user")  # fmt: skip


async def test_repeated_create_returns_the_first_result_and_appends_nothing() -> None:
    store = InMemoryEventStore()
    bus, cid = memory_bus(store), uuid4()
    first = await create(bus, cid)
    head = await store.head_position()
    again = await create(bus, cid)
    assert again.repeated
    assert again.position == first.position == head
    assert await store.head_position() == head
    assert definition(again, SCOPE, "checkout").config.enabled
    with pytest.raises(FlagAlreadyExists):
        await create(bus)


async def test_a_refused_config_leaves_no_half_created_flag() -> None:
    store = InMemoryEventStore()
    bus = memory_bus(store)
    with_rule = msgspec.structs.replace(ENABLED, rules=(rule_on("ghost"),))
    with pytest.raises(UnknownSegment):
        await create(bus, config=with_rule)
    assert await store.head_position() == 0
    await bus.handle(segment("ghost"), SCOPE)
    outcome = await create(bus, config=with_rule)
    assert definition(outcome, SCOPE, "checkout").config.rules[0].id == "r1"
    assert definition(outcome, SCOPE, "checkout").version == 1


async def test_one_changeset_writes_every_stream_under_one_command_id() -> None:
    store = InMemoryEventStore()
    outcome = await create(memory_bus(store))
    assert len(outcome.written) == 2
    assert {r.metadata.command_id for r in await store.read_all(0)} == {outcome.command_id}


async def test_stale_version_is_refused_and_current_one_applies() -> None:
    store = InMemoryEventStore()
    bus = memory_bus(store)
    await create(bus)
    await bus.handle(segment("beta"), SCOPE)
    change = ReplaceFlagRules(command_id=uuid4(), **ids(), rules=(rule_on("beta"),))
    with pytest.raises(VersionMismatch):
        await send(bus, change, version=0)
    done = await send(bus, change, version=1)
    assert done.version(cfg.flag_config_stream(SCOPE.environment_id, "checkout")) == 2


async def test_revert_restores_an_earlier_config_with_new_events() -> None:
    store = InMemoryEventStore()
    bus = memory_bus(store)
    created = await create(bus)
    await bus.handle(segment("beta"), SCOPE)
    await send(bus, ReplaceFlagRules(command_id=uuid4(), **ids(), rules=(rule_on("beta"),)))
    reverted = await send(
        bus, RestoreFlagConfig(command_id=uuid4(), **ids(), position=created.position), version=2
    )
    after = definition(reverted, SCOPE, "checkout")
    assert after.config.rules == ()
    assert after.config.enabled
    assert after.version == 3


async def test_delete_removes_every_environment_config_in_one_changeset() -> None:
    store = InMemoryEventStore()
    other = msgspec.structs.replace(SCOPE, environment_id=uuid4())
    bus = memory_bus(store, configured={"checkout": [other.environment_id]})
    await create(bus)
    await send(bus, ConfigureFlag(command_id=uuid4(), **ids(other), config=ENABLED), scope=other)
    deleted = await send(bus, DeleteFlag(command_id=uuid4(), project_id=SCOPE.project_id, key="checkout"))
    for scope in (SCOPE, other):
        state = deleted.state(cfg.flag_config_stream(scope.environment_id, "checkout"))
        assert state is not None
        assert state.deleted
    assert len({r.metadata.command_id for r in await store.read_all(0) if r.position > 3}) == 1


async def test_referenced_segment_delete_is_refused_unless_the_changeset_drops_the_reference() -> None:
    store = InMemoryEventStore()
    bus = memory_bus(store, used={"beta": frozenset({"flag:checkout"})})
    for key in ("beta", "gamma"):
        await bus.handle(segment(key), SCOPE)
    drop = DeleteSegment(command_id=uuid4(), environment_id=SCOPE.environment_id, key="beta")
    with pytest.raises(SegmentInUse):
        await bus.handle(drop, SCOPE)
    gone = DeleteSegment(command_id=uuid4(), environment_id=SCOPE.environment_id, key="gamma")
    assert (await bus.handle(gone, SCOPE)).written[0].version == 2
    await create(bus, config=msgspec.structs.replace(ENABLED, rules=(rule_on("beta"),)))
    clear = ReplaceFlagRules(command_id=uuid4(), **ids(), rules=())
    cid = uuid4()
    both = await bus.handle_changeset(
        [clear, msgspec.structs.replace(drop, command_id=cid)], SCOPE, command_id=cid
    )
    assert len(both.written) == 2


async def test_experiment_needs_the_flags_variants() -> None:
    store = InMemoryEventStore()
    await create(memory_bus(store))
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
    bus = memory_bus(InMemoryEventStore())
    await bus.handle(segment("beta"), SCOPE)
    outcome = await create(bus)
    seen = [(outcome.position, definition(outcome, SCOPE, "checkout").config)]
    for on, off_variant, with_rule in steps:
        target = FlagConfig(enabled=on, off_variant=off_variant, fallthrough=Serve(variant_key="off"),
                            rules=(rule_on("beta"),) if with_rule else ())  # fmt: skip
        outcome = await send(bus, ConfigureFlag(command_id=uuid4(), **ids(), config=target))
        seen.append((outcome.position, definition(outcome, SCOPE, "checkout").config))
    position, config = data.draw(st.sampled_from(seen))
    reverted = await send(bus, RestoreFlagConfig(command_id=uuid4(), **ids(), position=position))
    assert definition(reverted, SCOPE, "checkout").config == config
