"""One wire format for every event and command: msgspec JSON through tagged unions.

Decoding tolerates unknown fields (old readers skip new fields) and accepts stored JSON with or without
the `"type"` tag, since the event store keeps the tag in its own column.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

import msgspec

from domain.auth_providers.commands import AuthProviderCommand
from domain.auth_providers.events import AuthProviderEvent
from domain.event_definitions.commands import EventDefinitionCommand
from domain.event_definitions.events import EventDefinitionEvent
from domain.events import Command, Event
from domain.experiments.commands import ExperimentCommand
from domain.experiments.events import ExperimentEvent
from domain.flags.commands import FlagCommand, FlagConfigCommand
from domain.flags.events import FlagConfigEvent, FlagEvent
from domain.segments.commands import SegmentCommand
from domain.segments.events import SegmentEvent
from domain.tenancy.commands import TenancyCommand
from domain.tenancy.events import TenancyEvent

AnyEvent = (
    TenancyEvent
    | FlagEvent
    | FlagConfigEvent
    | SegmentEvent
    | EventDefinitionEvent
    | ExperimentEvent
    | AuthProviderEvent
)
AnyCommand = (
    TenancyCommand
    | FlagCommand
    | FlagConfigCommand
    | SegmentCommand
    | EventDefinitionCommand
    | ExperimentCommand
    | AuthProviderCommand
)


class UnknownTypeError(LookupError):
    """No event or command class carries that tag (a newer writer, or a corrupt row)."""


def tag_of(cls: type[Event] | type[Command]) -> str:
    """The permanent wire tag of a struct class."""
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str), cls
    return tag


def _by_tag(union: Any) -> dict[str, Any]:
    classes = typing.get_args(union)
    table = {tag_of(c): c for c in classes}
    assert len(table) == len(classes), "wire tags must be unique"
    return table


T = TypeVar("T", Event, Command)

EVENT_TYPES: dict[str, type[Event]] = _by_tag(AnyEvent)
COMMAND_TYPES: dict[str, type[Command]] = _by_tag(AnyCommand)

_ENCODER = msgspec.json.Encoder()
_EVENT_DECODER = msgspec.json.Decoder(AnyEvent)
_COMMAND_DECODER = msgspec.json.Decoder(AnyCommand)


@cache
def _decoder(cls: type[Any]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(cls)


def _decode_tagged(types: Mapping[str, type[T]], kind: str, type_: str, data: bytes) -> T:
    """The struct of tag `type_` among `types`, decoded from `data`, or UnknownTypeError."""
    cls = types.get(type_)
    if cls is None:
        raise UnknownTypeError(f"unknown {kind} type {type_!r}")
    decoded: T = _decoder(cls).decode(data)
    return decoded


def encode_event(event: Event) -> bytes:
    """JSON bytes including the `"type"` tag."""
    return _ENCODER.encode(event)


def decode_event(type_: str, data: bytes) -> Event:
    """The event of tag `type_` from `data` (tag in the JSON optional, unknown fields ignored)."""
    return _decode_tagged(EVENT_TYPES, "event", type_, data)


def decode_any_event(data: bytes) -> Event:
    """An event whose JSON carries its `"type"` tag."""
    event: Event = _EVENT_DECODER.decode(data)
    return event


def stream_type_of(event: Event | type[Event]) -> str:
    """The stream kind: the tag before its first dot ("flag_config.enabled" -> "flag_config")."""
    cls = event if isinstance(event, type) else type(event)
    return tag_of(cls).split(".", 1)[0]


def type_of(event: Event | Command) -> str:
    """The wire tag of an event or command (the event store's `type` column)."""
    return tag_of(type(event))


def encode_command(command: Command) -> bytes:
    """JSON bytes including the `"type"` tag."""
    return _ENCODER.encode(command)


def decode_command(type_: str, data: bytes) -> Command:
    """The command of tag `type_` from `data` (tag in the JSON optional, unknown fields ignored)."""
    return _decode_tagged(COMMAND_TYPES, "command", type_, data)


def decode_any_command(data: bytes) -> Command:
    """A command whose JSON carries its `"type"` tag."""
    command: Command = _COMMAND_DECODER.decode(data)
    return command
