"""Event definitions: unique metric keys with a permanent value type."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import (
    EventDefinitionAlreadyExists,
    EventDefinitionInUse,
    EventDefinitionNotFound,
    InvalidKey,
    MetricValueTypeChange,
)
from domain.event_definitions import event_definition as defs
from domain.event_definitions.commands import (
    CreateEventDefinition,
    DeleteEventDefinition,
    EventDefinitionCommand,
    UpdateEventDefinition,
)
from domain.event_definitions.events import EventDefinitionCreated, EventDefinitionEvent, MetricValueType
from tests.unit.domain.harness import NOW, current, drive, step

ENV = uuid4()


def _cmd() -> UUID:
    return uuid4()


def _create(
    key: str = "purchase", value_type: MetricValueType = MetricValueType.DOUBLE
) -> CreateEventDefinition:
    return CreateEventDefinition(
        command_id=_cmd(), environment_id=ENV, key=key, value_type=value_type, description="revenue"
    )


def test_keys_are_unique_per_environment() -> None:
    state = current(defs.create_event_definition(None, _create(), NOW), defs.replay)
    assert state.id == defs.event_definition_stream(ENV, "purchase")
    assert (state.value_type, state.description) == (MetricValueType.DOUBLE, "revenue")
    with pytest.raises(EventDefinitionAlreadyExists):
        defs.create_event_definition(state, _create(), NOW)
    with pytest.raises(InvalidKey):
        defs.create_event_definition(None, _create(key="a b"), NOW)


def test_the_value_type_is_permanent_but_the_description_is_not() -> None:
    state = current(defs.create_event_definition(None, _create(), NOW), defs.replay)
    same = UpdateEventDefinition(
        command_id=_cmd(),
        environment_id=ENV,
        key="purchase",
        description="revenue",
        value_type=MetricValueType.DOUBLE,
    )
    assert defs.update_event_definition(state, same, NOW) == []
    with pytest.raises(MetricValueTypeChange):
        defs.update_event_definition(
            state,
            UpdateEventDefinition(
                command_id=_cmd(),
                environment_id=ENV,
                key="purchase",
                description="",
                value_type=MetricValueType.BOOL,
            ),
            NOW,
        )
    state = defs.evolve(
        state,
        defs.update_event_definition(
            state,
            UpdateEventDefinition(
                command_id=_cmd(), environment_id=ENV, key="purchase", description="gross revenue"
            ),
            NOW,
        )[0],
    )
    assert state.description == "gross revenue"


def test_deleting_frees_the_key_unless_experiments_measure_it() -> None:
    state = current(defs.create_event_definition(None, _create(), NOW), defs.replay)
    delete = DeleteEventDefinition(command_id=_cmd(), environment_id=ENV, key="purchase")
    with pytest.raises(EventDefinitionInUse):
        defs.delete_event_definition(state, delete, NOW, used_by=frozenset({"checkout test"}))
    state = defs.evolve(state, defs.delete_event_definition(state, delete, NOW)[0])
    with pytest.raises(EventDefinitionNotFound):
        defs.delete_event_definition(state, delete, NOW)
    again = defs.create_event_definition(state, _create(value_type=MetricValueType.BOOL), NOW)
    assert defs.evolve(state, again[0]).value_type == MetricValueType.BOOL


_PURCHASE = {"command_id": st.uuids(), "environment_id": st.just(ENV), "key": st.just("purchase")}
value_types = st.sampled_from(MetricValueType)
definition_commands = st.one_of(
    st.builds(CreateEventDefinition, value_type=value_types, **_PURCHASE),
    st.builds(
        UpdateEventDefinition,
        description=st.sampled_from(["", "x"]),
        value_type=st.none() | value_types,
        **_PURCHASE,
    ),
    st.builds(DeleteEventDefinition, **_PURCHASE),
)


def _decide(state: defs.EventDefinition | None, cmd: EventDefinitionCommand) -> list[EventDefinitionEvent]:
    match cmd:
        case CreateEventDefinition():
            return defs.create_event_definition(state, cmd, NOW)
        case UpdateEventDefinition():
            return defs.update_event_definition(state, cmd, NOW)
        case DeleteEventDefinition():
            return defs.delete_event_definition(state, cmd, NOW)


@settings(max_examples=100)
@given(st.lists(definition_commands, max_size=12))
def test_event_definition_replay_equals_the_state_the_deciders_saw(
    commands: list[EventDefinitionCommand],
) -> None:
    run = drive([step(_decide, c) for c in commands], defs.evolve, defs.replay)
    created = [e for e in run.history if isinstance(e, EventDefinitionCreated)]
    if run.state is not None:
        assert run.state.value_type == created[-1].value_type, "only a re-creation changes the value type"
