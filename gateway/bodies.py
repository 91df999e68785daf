"""Strict request bodies: the JSON body is decoded once, by msgspec, into the route's declared type.

Litestar converts bodies with `strict=False`, which takes `0` / `1` for booleans, numbers for times and
numeric strings for integers. The gateway's request class decodes with `strict=True` instead, before any
dependency runs (so a malformed body never touches the pool); the signature model then receives the
decoded Struct and passes it through unchanged. What is accepted is exactly what the OpenAPI says.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.handlers.base import BaseRouteHandler

from gateway.errors import InvalidArgument

_UNSET: Any = object()


@cache
def _decoder(handler: BaseRouteHandler) -> msgspec.json.Decoder[Any] | None:
    """The strict decoder of a handler's `data` parameter (None when it takes no body)."""
    field = handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    return msgspec.json.Decoder(field.annotation, strict=True)


def decode_body(handler: BaseRouteHandler, raw: bytes) -> Any:
    """The body as the handler's declared type, or INVALID_ARGUMENT naming what is wrong and where."""
    decoder = _decoder(handler)
    if decoder is None:
        return msgspec.json.decode(raw)
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid body: {body_message(exc)}") from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"malformed JSON body: {exc}") from None


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
            self._strict_json = decode_body(self.route_handler, await self.body())
        return self._strict_json
