"""Every failure becomes the envelope {"error", "code"} with the status mapped from the gRPC code name."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import psycopg
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from commands.eventstore import ConcurrencyError, EventTooLarge
from domain.errors import DomainError

log = logging.getLogger(__name__)
LOGGED_INPUT_CHARS = 256  # request paths and client-caused error texts, as they appear in log lines

STATUS_OF_CODE: Mapping[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 409,  # the current state forbids it: a conflict, not a malformed request
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 502,
    "DEADLINE_EXCEEDED": 504,
    "INTERNAL": 500,
    "SSO_REQUIRED": 403,  # not a gRPC name: the organisation takes logins through its IdP only (issue 13)
}
_CODE_OF_STATUS: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """A failure the gateway itself decides; `code` is a gRPC status name, `status` its HTTP status.

    A subclass names its code (`class NotFound(ApiError, code="NOT_FOUND")`); the status follows from
    STATUS_OF_CODE unless given too.
    """

    code: ClassVar[str] = "INTERNAL"
    status: ClassVar[int] = 500

    def __init_subclass__(cls, *, code: str | None = None, status: int | None = None) -> None:
        super().__init_subclass__()
        if code is not None:
            cls.code = code
            cls.status = STATUS_OF_CODE[code]
        if status is not None:
            cls.status = status

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


# Named for the gRPC status codes, hence no "Error" suffix.
class InvalidArgument(ApiError, code="INVALID_ARGUMENT"): ...  # noqa: N818


class Unauthenticated(ApiError, code="UNAUTHENTICATED"): ...  # noqa: N818


class PermissionDenied(ApiError, code="PERMISSION_DENIED"): ...  # noqa: N818


class NotFound(ApiError, code="NOT_FOUND"): ...  # noqa: N818


class AlreadyExists(ApiError, code="ALREADY_EXISTS"): ...  # noqa: N818


class Aborted(ApiError, code="ABORTED"): ...  # noqa: N818


class ResourceExhausted(ApiError, code="RESOURCE_EXHAUSTED"): ...  # noqa: N818


class Unavailable(ApiError, code="UNAVAILABLE"): ...  # noqa: N818


SSO_REQUIRED_MESSAGE = "this organisation requires single sign-on: log in through its identity provider"


class SsoRequired(ApiError, code="SSO_REQUIRED"):  # noqa: N818
    """Password sessions refused by an organisation that requires SSO (issue 13): a code of its own, so a
    login page knows to offer the organisation's providers (GET /v1/auth/providers)."""


def envelope(message: str, code: str, status: int, headers: Mapping[str, str] | None = None) -> Response[Any]:
    """The one error body shape of the whole gateway."""
    return Response(
        {"error": message, "code": code},
        status_code=status,
        media_type=MediaType.JSON,
        headers=dict(headers or {}),
    )


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return envelope(exc.message, exc.code, exc.status, exc.headers)


def _domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    code = getattr(exc, "code", "INVALID_ARGUMENT")
    status = STATUS_OF_CODE.get(code)
    if status is None:
        code, status = "INVALID_ARGUMENT", 400
    return envelope(str(exc) or code.lower().replace("_", " "), code, status)


def _concurrency(_: Request[Any, Any, Any], exc: ConcurrencyError) -> Response[Any]:
    return envelope(f"concurrent modification, retry: {exc}", "ABORTED", 409)


def _too_large(_: Request[Any, Any, Any], exc: EventTooLarge) -> Response[Any]:
    # Nothing was written; the message names the limit (an event must fit one NATS message).
    return envelope(str(exc), "RESOURCE_EXHAUSTED", 413)


def validation_message(exc: ValidationException) -> str:
    """A readable message from Litestar's validation details, naming each offending field."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    parts: list[str] = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        key = item.get("key")
        source = item.get("source")
        source = getattr(source, "value", source)  # a ParamType enum: "query", not "ParamType.QUERY"
        if key == "data" and message == "'data'":  # Litestar's KeyError text for an empty body
            message = "a JSON body is required"
        where = f"{source} field `{key}`" if key and key != "data" else str(source or "request")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return _internal(request, exc)
    code = _CODE_OF_STATUS.get(status, "INVALID_ARGUMENT")
    if isinstance(exc, ValidationException):
        message = validation_message(exc)
    elif status == 404:
        message = "not found"
    else:
        message = exc.detail or code.lower()
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "retry-after")}
    return envelope(message, code, status, headers)


def clipped(text: object, limit: int = LOGGED_INPUT_CHARS) -> str:
    """`text` for a log line: client input cut to `limit` characters, with its original length."""
    value = str(text)
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value)} chars)"


def _where(request: Request[Any, Any, Any]) -> str:
    return f"{clipped(request.method, 16)} {clipped(request.url.path)}"


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # msgspec raises RecursionError (not DecodeError) on JSON nested thousands deep: the input's fault.
    log.warning("recursion limit on %s: %s", _where(request), clipped(exc))
    return envelope("request nested too deeply", "INVALID_ARGUMENT", 400)


def _bad_value(request: Request[Any, Any, Any], exc: psycopg.DataError) -> Response[Any]:
    # SQLSTATE class 22 (or psycopg refusing to send one): a value from the request the database cannot
    # hold, e.g. a NUL character in a key or an email.
    log.warning("data error on %s: %s", _where(request), clipped(exc))
    return envelope("a value in the request cannot be stored (e.g. a NUL character)", "INVALID_ARGUMENT", 400)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Logged with the traceback for operators; the client learns nothing about internals.
    log.exception("unhandled error on %s", _where(request), exc_info=exc)
    return envelope("internal error", "INTERNAL", 500)


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]

EXCEPTION_HANDLERS: dict[type[Exception] | int, Handler] = {
    ApiError: _api_error,
    DomainError: _domain_error,
    ConcurrencyError: _concurrency,
    EventTooLarge: _too_large,
    HTTPException: _http_exception,
    RecursionError: _too_deep,
    psycopg.DataError: _bad_value,
    Exception: _internal,
}
