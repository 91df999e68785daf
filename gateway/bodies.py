"""Strict request bodies: the JSON body is decoded once, by msgspec, into the route's declared type.

Litestar converts bodies with `strict=False`, which takes `0` / `1` for booleans, numbers for times and
numeric strings for integers. The gateway's request class decodes with `strict=True` instead, before any
dependency runs (so a malformed body never touches the pool); the signature model then receives the
decoded Struct and passes it through unchanged. What is accepted is exactly what the OpenAPI says.

The seed's proto3 JSON shape of a body is decoded here too (`schemas/http_body.py`): the seed request
message when the body carries one of its keys, proto enum names mapped to ours, ids repeating the path
checked against it (a contradiction is 400) and dropped, so a route only ever sees our shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.handlers.base import BaseRouteHandler

from gateway.errors import InvalidArgument
from schemas.http_body import BodyError, native, seed_form
from schemas.http_types import INT64_MAX, INT64_MIN

_UNSET: Any = object()


@cache
def _body_type(handler: BaseRouteHandler) -> Any:
    """The type of a handler's `data` parameter (None when it takes no body)."""
    field = handler.parsed_fn_signature.parameters.get("data")
    return None if field is None else field.annotation


def integral_floats_as_ints(value: Any) -> Any:
    """JSON Schema's `integer` includes `2.0`: integral floats become ints before the strict conversion.

    Only those within int64: a larger one (`1e300`) is no integer any field takes, and stays the number
    an `int | float` field accepts.
    """
    if isinstance(value, float) and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    if isinstance(value, list):
        return [integral_floats_as_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: integral_floats_as_ints(item) for key, item in value.items()}
    return value


def decode_strict(raw: bytes, target: Any) -> Any:
    """JSON `raw` as `target` (None: any JSON), strictly; msgspec.DecodeError / ValidationError otherwise.

    For the bodies a route reads itself because its failures have another shape (gateway/ofrep.py);
    the routes' declared types go through `decode_body`, which also takes the seed's shapes.
    """
    value = msgspec.json.decode(raw)
    if target is None:
        return value
    return msgspec.convert(integral_floats_as_ints(value), target, strict=True)


def decode_body(handler: BaseRouteHandler, raw: bytes, path: Mapping[str, object] | None = None) -> Any:
    """The body as the handler's declared type; `path` holds the route's path parameters."""
    return decode_as(_body_type(handler), raw, path or {})


def decode_as(target: Any, raw: bytes, path: Mapping[str, object]) -> Any:
    """The body as `target` (None: any JSON), from our or the seed's shape, or INVALID_ARGUMENT naming
    what is wrong and where."""
    try:
        value = msgspec.json.decode(raw)
        if target is None:
            return value
        form, value = seed_form(target, value)
        decoded = msgspec.convert(integral_floats_as_ints(value), form, strict=True)
        return native(decoded, path)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid body: {body_message(exc)}") from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"malformed JSON body: {exc}") from None
    except BodyError as exc:
        raise InvalidArgument(f"invalid body: {exc}") from None


def body_message(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `bool`, got `int` - at `$.enabled`" as "field `enabled`: expected `bool`..."."""
    text = str(exc)
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        return text
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    return f"field `{path}`: {message}" if path else message


class StrictRequest(Request[Any, Any, Any]):
    """The gateway's request class: `json()` is the strict, typed decode of the body."""

    _strict_json: Any = _UNSET

    async def json(self) -> Any:
        if self._strict_json is _UNSET:
            self._strict_json = decode_body(self.route_handler, await self.body(), self.path_params)
        return self._strict_json
