"""Strict decoding of request messages: bytes that are not a well-formed protobuf message are refused.

betterproto parses leniently (an unknown wire type or a truncated field can still yield a default
message, which the service would answer with a full snapshot). Every request is first walked as
protobuf wire format: each tag has a field number >= 1 and a wire type of 0, 1, 2 or 5, varints end
within 10 bytes, lengths and fixed-size values fit in what is left; then betterproto decodes it (a wire
type that does not fit the field's declared type fails there). Either failure answers INVALID_ARGUMENT.
"""

from __future__ import annotations

import struct
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10


class MalformedMessageError(ValueError):
    """The bytes are not protobuf wire format."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if at + i >= len(data):
            raise MalformedMessageError("truncated varint")
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise MalformedMessageError("varint longer than 10 bytes")


def check_wire_format(data: bytes) -> None:
    """Raise MalformedMessageError unless `data` is a sequence of well-formed protobuf fields."""
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire_type = tag >> 3, tag & 7
        if not 1 <= number < 2**29:
            raise MalformedMessageError(f"field number {number} out of range")
        if wire_type == _VARINT:
            _, at = _varint(data, at)
            continue
        if wire_type == _LENGTH:
            size, at = _varint(data, at)
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
        else:
            raise MalformedMessageError(f"wire type {wire_type} (field {number}) is not allowed")
        if at + size > len(data):
            raise MalformedMessageError(f"field {number} runs past the end of the message")
        at += size


def decode_request(data: bytes, message_type: Any) -> Any:
    """The message, or GRPCError(INVALID_ARGUMENT) for bytes that are not one."""
    try:
        check_wire_format(data)
        return message_type().parse(data)
    # What betterproto raises for a field whose wire type does not fit its declared type, bad UTF-8,
    # or nesting too deep: all the input's fault.
    except (ValueError, TypeError, IndexError, KeyError, struct.error, RecursionError) as exc:
        raise GRPCError(Status.INVALID_ARGUMENT, f"malformed request message: {exc}") from None
