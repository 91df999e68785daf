"""The OFREP routes in the gateway's OpenAPI: the OFREP bodies and statuses they really answer.

`finalize_openapi` documents every route's failures as the error envelope; OFREP answers its own
shapes (the vendored OFREP OpenAPI's schemas, with the value union as `anyOf`: integer values are
also numbers), so its operations are rewritten here afterwards.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType

from gateway.ofrep import EVENT_STREAM, PREFIX
from gateway.ofrep_request_schema import request_schema

_REF = "#/components/schemas/"
ENVELOPE = "ErrorEnvelope"
_SCALAR: dict[str, Any] = {"oneOf": [{"type": "boolean"}, {"type": "string"}, {"type": "number"}]}
_METADATA: dict[str, Any] = {"type": "object", "additionalProperties": _SCALAR}
_CONTEXT_ERRORS = ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"]
SCHEMAS: dict[str, dict[str, Any]] = {
    "OfrepEvaluationSuccess": {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "reason": {
                "type": "string",
                "enum": ["STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED", "UNKNOWN"],
            },
            "variant": {"type": "string"},
            "value": {"anyOf": [{"type": t} for t in ("boolean", "string", "number", "object", "array")]},
            "metadata": _METADATA,
        },
        "required": ["key", "reason"],
    },
    "OfrepEvaluationFailure": {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "errorCode": {"type": "string", "enum": _CONTEXT_ERRORS},
            "errorDetails": {"type": "string"},
            "metadata": _METADATA,
        },
        "required": ["key", "errorCode"],
    },
    "OfrepFlagNotFound": {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "errorCode": {"type": "string", "enum": ["FLAG_NOT_FOUND"]},
            "errorDetails": {"type": "string"},
        },
        "required": ["key", "errorCode"],
    },
    "OfrepBulkEvaluationSuccess": {
        "type": "object",
        "properties": {
            "flags": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"$ref": _REF + "OfrepEvaluationSuccess"},
                        {"$ref": _REF + "OfrepEvaluationFailure"},
                    ]
                },
            },
            "metadata": _METADATA,
            "eventStreams": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "endpoint": {
                            "type": "object",
                            "properties": {"requestUri": {"type": "string", "pattern": "^/"}},
                            "required": ["requestUri"],
                        },
                        "inactivityDelaySec": {"type": "integer", "minimum": 1},
                    },
                    "required": ["type", "endpoint"],
                },
            },
        },
        "required": ["flags"],
    },
    "OfrepBulkEvaluationFailure": {
        "type": "object",
        "properties": {
            "errorCode": {"type": "string", "enum": _CONTEXT_ERRORS},
            "errorDetails": {"type": "string"},
        },
        "required": ["errorCode"],
    },
}
_CAMEL = {
    "additionalProperties": "additional_properties",
    "minLength": "min_length",
    "minProperties": "min_properties",
    "oneOf": "one_of",
    "anyOf": "any_of",
    "allOf": "all_of",
}


def to_schema(doc: dict[str, Any]) -> Schema | Reference:
    """A JSON-schema dict as Litestar's OpenAPI objects."""
    if "$ref" in doc:
        return Reference(ref=doc["$ref"])
    fields: dict[str, Any] = {}
    for name, value in doc.items():
        match name:
            case "properties":
                fields[name] = {k: to_schema(v) for k, v in value.items()}
            case "items":
                fields[name] = to_schema(value)
            case "oneOf" | "anyOf" | "allOf":
                fields[_CAMEL[name]] = [to_schema(v) for v in value]
            case "type":
                fields[name] = (
                    [OpenAPIType(v) for v in value] if isinstance(value, list) else OpenAPIType(value)
                )
            case "not":
                fields["schema_not"] = to_schema(value)
            case "minLength" | "minProperties":
                fields[_CAMEL[name]] = value
            case "additionalProperties":
                fields[_CAMEL[name]] = value if isinstance(value, bool) else to_schema(value)
            case _:
                fields[name] = value
    return Schema(**fields)


def _json(
    description: str,
    schema: str,
    headers: dict[str, OpenAPIHeader | Reference] | None = None,
    *,
    or_envelope: bool = False,
) -> OpenAPIResponse:
    media = OpenAPIMediaType(schema=Reference(ref=_REF + schema))
    if or_envelope:  # a gateway header (x-stitchd-min-position) refused before OFREP's handler runs
        media = OpenAPIMediaType(
            schema=Schema(any_of=[Reference(ref=_REF + schema), Reference(ref=_REF + ENVELOPE)])
        )
    return OpenAPIResponse(description=description, content={"application/json": media}, headers=headers)


def _common() -> dict[str, OpenAPIResponse]:
    return {
        "401": _json("UNAUTHENTICATED: no SDK key, or an unknown or revoked one", ENVELOPE),
        "413": _json("RESOURCE_EXHAUSTED: request body too large", ENVELOPE),
        "429": _json("RESOURCE_EXHAUSTED: rate limited per address or SDK key (see Retry-After)", ENVELOPE),
        "500": _json("INTERNAL: unexpected failure (no details are exposed)", ENVELOPE),
        "503": _json("UNAVAILABLE: overloaded, or large-list memberships not caught up yet; retry", ENVELOPE),
    }


def _etag() -> dict[str, OpenAPIHeader | Reference]:
    return {
        "ETag": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description="definitions + context")
    }


def _responses(path: str) -> dict[str, OpenAPIResponse]:
    if path == EVENT_STREAM:
        sse = OpenAPIResponse(
            description="refetchEvaluation messages (OFREP event-streams.yaml)",
            content={"text/event-stream": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
        )
        common = _common()
        return {"200": sse, **{k: common[k] for k in ("401", "429", "500", "503")}}
    if path == f"{PREFIX}/evaluate/flags":
        return {
            "200": _json("every flag evaluated for the context", "OfrepBulkEvaluationSuccess", _etag()),
            "304": OpenAPIResponse(
                description="If-None-Match is current: same definitions, same context", headers=_etag()
            ),
            "400": _json(
                "PARSE_ERROR, TARGETING_KEY_MISSING or INVALID_CONTEXT",
                "OfrepBulkEvaluationFailure",
                or_envelope=True,
            ),
            **_common(),
        }
    return {
        "200": _json("the flag evaluated for the context", "OfrepEvaluationSuccess"),
        "400": _json(
            "PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT or GENERAL",
            "OfrepEvaluationFailure",
            or_envelope=True,
        ),
        "404": _json("FLAG_NOT_FOUND", "OfrepFlagNotFound"),
        **_common(),
    }


def finalize_ofrep_openapi(app: Litestar) -> None:
    """Rewrite the OFREP operations of the app's (cached) spec; run after `finalize_openapi`."""
    openapi = app.openapi_schema
    if isinstance(openapi.components, Components):
        schemas = {
            name: schema for name, doc in SCHEMAS.items() if isinstance(schema := to_schema(doc), Schema)
        }
        request: dict[str, Any] = {"OfrepEvaluationRequest": request_schema()}  # as served, not converted
        openapi.components.schemas = {**(openapi.components.schemas or {}), **schemas, **request}
        openapi.components.security_schemes = {
            **(openapi.components.security_schemes or {}),
            "ofrep_api_key": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            "sdk_key_bearer": SecurityScheme(
                type="http", scheme="bearer", description="the SDK key as a bearer token"
            ),
        }
    body = RequestBody(
        required=True,
        content={"application/json": OpenAPIMediaType(schema=Reference(ref=_REF + "OfrepEvaluationRequest"))},
    )
    for path, item in (openapi.paths or {}).items():
        if not path.startswith(PREFIX + "/"):
            continue
        for op in (item.get, item.post):
            if isinstance(op, Operation):
                op.responses = dict(_responses(path))
                if op is item.post:
                    op.request_body = body
