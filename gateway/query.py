"""The one query-parameter validation path: strict, declared bounds, before any dependency runs.

Litestar converts query strings with `strict=False` (`?until=0.5` becomes a time, `?version=null` no
version, `1e3` an integer), and it validates a dependency's parameters while sibling dependencies are
already querying the read pool: a 400 there cancels their queries and costs a connection. This runs in
`before_request`, with no IO, over every query parameter the route and its dependencies declare: an
integer is ASCII digits within int64 and the declared bounds, a boolean is `true` or `false`, a time is
RFC 3339 with an offset. What passes is exactly what the OpenAPI declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.handlers.base import BaseRouteHandler
from litestar.params import QueryParameter
from litestar.typing import FieldDefinition

from gateway.errors import InvalidArgument
from schemas.http_types import INT64_MAX, INT64_MIN

# The optimistic-locking version every delete takes (the seed's MutateFlagRequest: required; stale: ABORTED).
VersionQuery = Annotated[
    int,
    QueryParameter(
        ge=0,
        le=INT64_MAX,
        required=True,
        description="The version read (required); a stale one answers 409 ABORTED.",
    ),
]
PositionQuery = Annotated[int | None, QueryParameter(ge=0, le=INT64_MAX, description="A store position.")]

_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)
_BOUNDS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")


@dataclass(frozen=True)
class QueryParam:
    name: str
    base: type[Any]
    required: bool
    bounds: tuple[tuple[str, Any], ...]  # Parameter(ge=..., max_length=...) as msgspec.Meta arguments


def _query_param(field: FieldDefinition) -> QueryParam | None:
    kwarg = field.kwarg_definition
    if not isinstance(kwarg, QueryParameter):
        return None
    inner = [t for t in field.inner_types if not t.is_none_type] if field.is_union else [field]
    base = inner[0].annotation if len(inner) == 1 else str
    bounds = tuple((k, getattr(kwarg, k)) for k in _BOUNDS if getattr(kwarg, k, None) is not None)
    required = kwarg.required if kwarg.required is not None else not (field.has_default or field.is_optional)
    return QueryParam(getattr(kwarg, "name", None) or kwarg.query or field.name, base, required, bounds)


@cache
def declared_query(handler: BaseRouteHandler) -> tuple[QueryParam, ...]:
    """Every query parameter of the handler and of the dependencies it resolves (transitively)."""
    provided = handler.resolve_dependencies()
    fields: list[FieldDefinition] = []
    pending, seen = [handler.parsed_fn_signature], set()
    while pending:
        for name, field in pending.pop().parameters.items():
            if name not in provided:
                fields.append(field)
            elif name not in seen:
                seen.add(name)
                pending.append(provided[name].parsed_fn_signature)
    found = {p.name: p for f in fields if (p := _query_param(f))}
    return tuple(found.values())


def query_type(param: QueryParam) -> Any:
    """The type a value of `param` is checked against (also its OpenAPI schema): never null."""
    bounds = dict(param.bounds)
    if param.base is int:
        bounds = {"ge": INT64_MIN, "le": INT64_MAX, **bounds}
    elif param.base is datetime:
        bounds["tz"] = True
    elif param.base is str:
        bounds.setdefault("pattern", "^[^\x00]*$")  # PostgreSQL text cannot hold NUL
    return Annotated[param.base, msgspec.Meta(**bounds)] if bounds else param.base


def parse_value(param: QueryParam, raw: str) -> Any:
    """One query value as its declared type, strictly; ValueError / msgspec.ValidationError otherwise."""
    value: Any = raw
    if param.base is bool:
        if raw not in ("true", "false"):
            raise ValueError("Expected `true` or `false`")
        value = raw == "true"
    elif param.base is int:
        if not _INTEGER.fullmatch(raw):
            raise ValueError("Expected an integer (ASCII digits)")
        value = int(raw)
    return msgspec.convert(value, query_type(param), strict=True)


def check_query(request: Request[Any, Any, Any]) -> None:
    """INVALID_ARGUMENT naming the first query parameter that is missing, repeated or not its type."""
    query = request.query_params
    for param in declared_query(request.route_handler):
        values = query.getall(param.name, [])
        if not values:
            if param.required:
                raise InvalidArgument(f"query field `{param.name}`: a value is required")
            continue
        if len(values) > 1:
            raise InvalidArgument(f"query field `{param.name}`: give it once")
        try:
            parse_value(param, values[0])
        except (ValueError, msgspec.ValidationError) as exc:
            message = str(exc).removesuffix(" - at `$`")
            raise InvalidArgument(f"query field `{param.name}`: {message}") from None
