"""OpenAPI finishing: the error envelope on every failure response, explicit empty security when open,
and request schemas stating exactly what the strict decoders enforce (closed objects, `anyOf` unions)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    PathItem,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute

from gateway.errors import STATUS_OF_CODE
from gateway.query import declared_query, query_type

ENVELOPE = "ErrorEnvelope"
REF_TEMPLATE = "#/components/schemas/{name}"
_ENVELOPE_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="Every error: a human-readable message and the gRPC status name.",
    properties={
        "error": Schema(type=OpenAPIType.STRING),
        "code": Schema(type=OpenAPIType.STRING, enum=sorted(STATUS_OF_CODE)),
    },
    required=["error", "code"],
)
_DESCRIPTIONS = {
    400: "INVALID_ARGUMENT: malformed JSON, wrong types, unknown fields, values out of their bounds",
    401: "UNAUTHENTICATED: missing, invalid, expired or revoked credentials",
    403: "PERMISSION_DENIED: authenticated but not allowed",
    404: "NOT_FOUND: no such object in the caller's tenant",
    409: "ABORTED / ALREADY_EXISTS / FAILED_PRECONDITION: stale version, duplicate, or the state forbids it",
    413: "RESOURCE_EXHAUSTED: request body too large",
    422: "INVALID_ARGUMENT: the Idempotency-Key was already used with a different request",
    429: (
        "RESOURCE_EXHAUSTED: rate limited (per address or credential), throttled (see Retry-After),"
        " or an organisation quota reached"
    ),
    500: "INTERNAL: unexpected failure (no details are exposed)",
    502: "UNAVAILABLE: the identity provider could not be reached or answered badly",
    503: (
        "UNAVAILABLE: the gateway is at capacity (MAX_CONCURRENCY; retry, see Retry-After),"
        " or lacks what the route needs (xmlsec1 for SAML signatures)"
    ),
}


_CREDENTIAL_PATHS = ("/v1/auth/", "/v1/admin/")


def _operations(item: PathItem) -> list[tuple[str, Operation]]:
    pairs = [
        ("get", item.get),
        ("post", item.post),
        ("put", item.put),
        ("patch", item.patch),
        ("delete", item.delete),
    ]
    return [(method, op) for method, op in pairs if op is not None]


def _statuses(method: str, op: Operation, path: str) -> list[int]:
    statuses = [400, 500]
    if op.security:
        statuses += [401, 403]
    if "{" in path or op.security:
        statuses.append(404)
    if method != "get":
        statuses.append(409)
    if op.request_body is not None:
        statuses.append(413)
    statuses += [429, 503]  # every route is behind the rate limits and the concurrency cap (gateway/edge.py)
    if any(getattr(p, "name", "").lower() == "idempotency-key" for p in op.parameters or ()):
        statuses.append(422)
    if path.startswith(_CREDENTIAL_PATHS):  # open routes that check a password or a token
        statuses += [401, 403]  # 403: not a member there, or SSO_REQUIRED (issue 13)
    if path.startswith(_SSO_LOGIN_PATHS):  # a provider named in the body; logins in flight are bounded
        statuses += [404, 429, 502]
    return sorted(set(statuses))


_SSO_LOGIN_PATHS = ("/v1/auth/oidc/", "/v1/auth/saml/")


def _envelope_response(status: int) -> OpenAPIResponse:
    media = OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{ENVELOPE}"))
    return OpenAPIResponse(description=_DESCRIPTIONS[status], content={"application/json": media})


def _handlers(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    yield route.path_format, method.lower(), handler


def _body_types(app: Litestar) -> list[Any]:
    fields = (h.parsed_fn_signature.parameters.get("data") for _, _, h in _handlers(app))
    return [field.annotation for field in fields if field is not None]


def _seed_request(body_type: Any) -> type[msgspec.Struct] | None:
    return getattr(body_type, "__seed_request__", None) if isinstance(body_type, type) else None


def request_components(app: Litestar) -> dict[str, Any]:
    """msgspec's own JSON schema of every request body type: exactly what the strict decoder accepts
    (closed objects, exact integer bounds, `anyOf` unions, tags), under the names Litestar refers to,
    plus the cross-field rules a body class states in `__json_schema_extra__`, plus the seed request
    messages a body may also be sent as."""
    bodies = _body_types(app)
    types = [*bodies, *(r for r in map(_seed_request, bodies) if r is not None)]
    _, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
    for cls in _struct_classes(types):
        extra = getattr(cls, "__json_schema_extra__", None)
        if extra and cls.__name__ in components:
            components[cls.__name__] = {**components[cls.__name__], **extra}
    return components


def _struct_classes(types: list[Any]) -> list[type[msgspec.Struct]]:
    found: dict[int, type[msgspec.Struct]] = {}
    pending: list[Any] = list(msgspec.inspect.multi_type_info(types))
    seen: set[int] = set()
    while pending:
        info = pending.pop()
        if id(info) in seen:
            continue
        seen.add(id(info))
        if isinstance(info, msgspec.inspect.StructType):
            found[id(info.cls)] = info.cls
        for name in info.__struct_fields__:
            value = getattr(info, name)
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, msgspec.inspect.Field):
                    pending.append(item.type)
                elif isinstance(item, msgspec.inspect.Type):
                    pending.append(item)
    return list(found.values())


def _seed_alternatives(app: Litestar, paths: dict[str, PathItem]) -> None:
    """A body that may also be sent as the seed's request message is `anyOf` the two."""
    for path, method, handler in _handlers(app):
        field = handler.parsed_fn_signature.parameters.get("data")
        request = _seed_request(field.annotation) if field is not None else None
        op = getattr(paths.get(path), method, None) if path in paths else None
        if request is None or field is None or not isinstance(op, Operation) or op.request_body is None:
            continue
        if isinstance(op.request_body, Reference) or not op.request_body.content:
            continue
        media = op.request_body.content["application/json"]
        ours = Reference(ref=REF_TEMPLATE.format(name=field.annotation.__name__))
        seed = Reference(ref=REF_TEMPLATE.format(name=request.__name__))
        media.schema = Schema(any_of=[ours, seed])


def _query_schemas(app: Litestar, paths: dict[str, PathItem]) -> None:
    """Each query parameter's schema from the strict query path's own type: no `null`, exact bounds."""
    for path, method, handler in _handlers(app):
        op = getattr(paths.get(path), method, None) if path in paths else None
        declared = {p.name: p for p in declared_query(handler)}
        for param in (op.parameters or []) if isinstance(op, Operation) else []:
            query = declared.get(param.name) if isinstance(param, Parameter) else None
            if isinstance(param, Parameter) and query is not None:
                param.schema = cast(Schema, msgspec.json.schema(query_type(query)))


def _unions_as_any_of(node: Any) -> None:
    """msgspec unions accept a value matching any member: `oneOf` would refuse 0 for `int | float`."""
    if isinstance(node, Schema) and node.one_of is not None and node.discriminator is None:
        node.any_of, node.one_of = node.one_of, None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            _unions_as_any_of(getattr(node, f.name))
    elif isinstance(node, list | tuple):
        for item in node:
            _unions_as_any_of(item)
    elif isinstance(node, dict):
        for item in node.values():
            _unions_as_any_of(item)


def finalize_openapi(app: Litestar) -> None:
    """Rewrite the app's generated spec in place (built once, then served and exported as is)."""
    openapi = app.openapi_schema  # built once by Litestar and cached; served as mutated here
    if isinstance(openapi.components, Components):
        schemas = {**(openapi.components.schemas or {}), ENVELOPE: _ENVELOPE_SCHEMA}
        _unions_as_any_of(schemas)  # the responses' schemas, generated by Litestar
        openapi.components.schemas = {**schemas, **request_components(app)}
    _unions_as_any_of(openapi.paths)
    _query_schemas(app, openapi.paths or {})
    _seed_alternatives(app, openapi.paths or {})
    for path, item in (openapi.paths or {}).items():
        for method, op in _operations(item):
            if op.security is None:
                op.security = []  # the seed: open routes declare an empty security array
            responses = dict(op.responses or {})
            for status in _statuses(method, op, path):
                responses[str(status)] = _envelope_response(status)
            op.responses = responses
