"""OpenAPI finishing: the error envelope on every failure response, explicit empty security when open."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    PathItem,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

from gateway.errors import STATUS_OF_CODE

ENVELOPE = "ErrorEnvelope"
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
    400: "INVALID_ARGUMENT / FAILED_PRECONDITION: malformed JSON, wrong types, unknown fields, bad values",
    401: "UNAUTHENTICATED: missing, invalid, expired or revoked credentials",
    403: "PERMISSION_DENIED: authenticated but not allowed",
    404: "NOT_FOUND: no such object in the caller's tenant",
    409: "ABORTED / ALREADY_EXISTS: concurrent change or duplicate",
    413: "RESOURCE_EXHAUSTED: request body too large",
    429: "RESOURCE_EXHAUSTED: rate limited (per address or credential) or throttled, see Retry-After",
    500: "INTERNAL: unexpected failure (no details are exposed)",
    503: "UNAVAILABLE: the gateway is at capacity (MAX_CONCURRENCY); retry, see Retry-After",
}


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
    return sorted(set(statuses))


def _envelope_response(status: int) -> OpenAPIResponse:
    media = OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{ENVELOPE}"))
    return OpenAPIResponse(description=_DESCRIPTIONS[status], content={"application/json": media})


def finalize_openapi(app: Litestar) -> None:
    """Rewrite the app's generated spec in place (built once, then served and exported as is)."""
    openapi = app.openapi_schema  # built once by Litestar and cached; served as mutated here
    if isinstance(openapi.components, Components):
        openapi.components.schemas = {**(openapi.components.schemas or {}), ENVELOPE: _ENVELOPE_SCHEMA}
    for path, item in (openapi.paths or {}).items():
        for method, op in _operations(item):
            if op.security is None:
                op.security = []  # the seed: open routes declare an empty security array
            responses = dict(op.responses or {})
            for status in _statuses(method, op, path):
                responses[str(status)] = _envelope_response(status)
            op.responses = responses
