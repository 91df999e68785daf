"""The base of every HTTP request body, and how the seed's proto3 JSON shapes of a body map onto ours.

One decoding rule for every write route (`gateway/bodies.py` applies it):
- A body is ours, or the proto3 JSON mapping of the seed's request message for the route (field names
  as in the `.proto`). A body class names its seed request in `__seed_request__` when the message wraps
  ours (`{"experiment": {...}}`); a body carrying a key that only the request message has is decoded
  as that message and unwrapped with `native()`.
- Proto enum names (`METRIC_VALUE_TYPE_BOOL`) are accepted beside ours (`bool`) and become ours: a
  class lists its enum fields with their proto prefix in `__proto_enums__`.
- Ids the seed's messages repeat from the path (`environment_id`, `experiment_id`, `flag_key`, ...)
  are listed in `__path_ids__` (body field -> path parameter): equal to the path they are dropped (the
  body then equals our shape's), different they are refused (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec


class BodyError(ValueError):
    """A body that decodes but contradicts itself or its path; the gateway answers 400."""


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (400); proto enum names become ours."""

    __proto_enums__: ClassVar[Mapping[str, str]] = {}
    __path_ids__: ClassVar[Mapping[str, str]] = {}
    __seed_request__: ClassVar[type[SeedRequest] | None] = None

    @classmethod
    def with_inferred_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The JSON object before decoding, with the fields a seed shape leaves implicit filled in."""
        return value

    def __post_init__(self) -> None:
        for name, prefix in self.__proto_enums__.items():
            value = getattr(self, name)
            if isinstance(value, str) and value.startswith(prefix):
                msgspec.structs.force_setattr(self, name, value.removeprefix(prefix).lower())


class SeedRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A seed request message that wraps one of our bodies (proto3 JSON, snake_case field names)."""

    def native(self) -> Body:
        """The body in our shape."""
        raise NotImplementedError


def request_only_keys(body_type: type[Body]) -> frozenset[str]:
    """The fields of `body_type`'s seed request that our shape lacks: a body with one is the seed's."""
    request = body_type.__seed_request__
    if request is None:
        return frozenset()
    return frozenset(request.__struct_fields__) - frozenset(body_type.__struct_fields__)


def seed_form(body_type: Any, value: Any) -> tuple[Any, Any]:
    """(type, value) to decode: the seed request when `value` carries one of its own keys, else
    `body_type` with the fields the seed's shape leaves implicit filled in."""
    if not (isinstance(body_type, type) and issubclass(body_type, Body) and isinstance(value, dict)):
        return body_type, value
    if request_only_keys(body_type) & value.keys():
        return body_type.__seed_request__, value
    return body_type, body_type.with_inferred_fields(value)


def native(decoded: Any, path: Mapping[str, object]) -> Any:
    """Our shape of a decoded body, its path ids checked against `path` and then dropped."""
    body = decoded.native() if isinstance(decoded, SeedRequest) else decoded
    if not isinstance(body, Body):
        return body
    agreed: dict[str, None] = {}
    for field, param in body.__path_ids__.items():
        given = getattr(body, field)
        if given is None or param not in path:
            continue
        if str(given) != str(path[param]):
            raise BodyError(f"body field `{field}` ({given}) contradicts the path ({path[param]})")
        agreed[field] = None
    return msgspec.structs.replace(body, **agreed) if agreed else body


def agree(field: str, *values: object) -> object:
    """The one value given among `values` (None is not given); two different ones are a BodyError."""
    given = {str(v): v for v in values if v is not None}
    if len(given) > 1:
        raise BodyError(f"`{field}` is given twice with different values: {', '.join(sorted(given))}")
    return next(iter(given.values()), None)
