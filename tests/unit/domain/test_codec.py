"""Every event and command survives the wire; decoding is tolerant of unknown fields and a missing tag."""

from __future__ import annotations

import re
from uuid import uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.codec import (
    COMMAND_TYPES,
    EVENT_TYPES,
    UnknownTypeError,
    decode_any_command,
    decode_any_event,
    decode_command,
    decode_event,
    encode_command,
    encode_event,
    stream_type_of,
    type_of,
)
from domain.events import Command, Event
from domain.tenancy.events import OrgCreated
from tests.strategies_domain import structs
from tests.unit.domain.harness import NOW

TAG = re.compile(r"[a-z_]+\.[a-z_]+")
STREAM_TYPES = {
    "org",
    "email",
    "user",
    "project",
    "environment",
    "flag",
    "flag_config",
    "segment",
    "event_definition",
    "experiment",
    "auth_provider",
}


def _strip_tag_and_add_unknown(data: bytes) -> bytes:
    doc = msgspec.json.decode(data)
    del doc["type"]
    doc["field_from_the_future"] = {"nested": [1, 2]}
    return msgspec.json.encode(doc)


@pytest.mark.parametrize("tag", sorted(EVENT_TYPES))
@settings(max_examples=40)
@given(data=st.data())
def test_every_event_round_trips(tag: str, data: st.DataObject) -> None:
    event = data.draw(structs(EVENT_TYPES[tag]))
    encoded = encode_event(event)
    assert decode_event(tag, encoded) == event
    assert decode_any_event(encoded) == event
    assert decode_event(tag, _strip_tag_and_add_unknown(encoded)) == event
    assert type_of(event) == tag


@pytest.mark.parametrize("tag", sorted(COMMAND_TYPES))
@settings(max_examples=40)
@given(data=st.data())
def test_every_command_round_trips(tag: str, data: st.DataObject) -> None:
    command = data.draw(structs(COMMAND_TYPES[tag]))
    encoded = encode_command(command)
    assert decode_command(tag, encoded) == command
    assert decode_any_command(encoded) == command
    assert decode_command(tag, _strip_tag_and_add_unknown(encoded)) == command


def test_tags_are_dotted_lowercase_and_name_a_known_stream_type() -> None:
    for tag, cls in EVENT_TYPES.items():
        assert TAG.fullmatch(tag), tag
        assert issubclass(cls, Event)
        assert stream_type_of(cls) in STREAM_TYPES
    for tag, command_cls in COMMAND_TYPES.items():
        assert TAG.fullmatch(tag), tag
        assert issubclass(command_cls, Command)


def test_event_and_command_classes_are_frozen() -> None:
    for cls in [*EVENT_TYPES.values(), *COMMAND_TYPES.values()]:
        assert cls.__struct_config__.frozen, cls


def test_stream_type_is_the_tag_prefix() -> None:
    assert stream_type_of(EVENT_TYPES["flag_config.rules_replaced"]) == "flag_config"
    assert stream_type_of(EVENT_TYPES["event_definition.created"]) == "event_definition"


def test_unknown_tags_are_refused() -> None:
    with pytest.raises(UnknownTypeError):
        decode_event("flag.exploded", b"{}")
    with pytest.raises(UnknownTypeError):
        decode_command("flag.explode", b"{}")


def test_data_of_another_type_is_refused() -> None:
    event = OrgCreated(stream_id=uuid4(), version=1, occurred_at=NOW, name="Acme")
    with pytest.raises(msgspec.ValidationError):
        decode_event("org.renamed", encode_event(event))
