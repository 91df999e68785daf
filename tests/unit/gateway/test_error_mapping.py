"""Error mapping without services: domain and gateway errors, Litestar's own failures, and the catch-all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast
from uuid import uuid4

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar, get
from litestar.params import FromPath

from commands.eventstore import ConcurrencyError
from domain.errors import DomainError, EnvironmentNotFound, LastActiveSdkKey, VersionMismatch
from gateway.errors import EXCEPTION_HANDLERS, STATUS_OF_CODE, PermissionDenied, ResourceExhausted

RAISED: dict[str, Exception] = {
    "domain-not-found": EnvironmentNotFound("environment x not found"),
    "domain-precondition": LastActiveSdkKey("cannot revoke the last active SDK key"),
    "domain-version": VersionMismatch("version 3 expected, stream is at 4"),
    "concurrency": ConcurrencyError(uuid4(), 1, 2),
    "denied": PermissionDenied("nope"),
    "throttled": ResourceExhausted("slow down", headers={"Retry-After": "7"}),
    "bug": RuntimeError("secret internals: password=hunter2"),
}
EXPECTED = {
    "domain-not-found": (404, "NOT_FOUND"),
    "domain-precondition": (409, "FAILED_PRECONDITION"),
    "domain-version": (409, "ABORTED"),
    "concurrency": (409, "ABORTED"),
    "denied": (403, "PERMISSION_DENIED"),
    "throttled": (429, "RESOURCE_EXHAUSTED"),
    "bug": (500, "INTERNAL"),
}


@get("/raise/{name:str}", sync_to_thread=False)
def raiser(name: FromPath[str]) -> None:
    raise RAISED[name]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Litestar([raiser], exception_handlers=EXCEPTION_HANDLERS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://t") as c:
        yield c


@pytest.mark.parametrize("name", sorted(RAISED))
async def test_each_error_maps_to_its_status_and_code(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/raise/{name}")
    assert (response.status_code, response.json()["code"]) == EXPECTED[name]
    assert set(response.json()) == {"error", "code"}


async def test_internal_errors_reveal_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/bug")
    assert response.json() == {"error": "internal error", "code": "INTERNAL"}


async def test_retry_after_is_passed_on(client: httpx.AsyncClient) -> None:
    assert (await client.get("/raise/throttled")).headers["retry-after"] == "7"


def test_every_domain_error_code_has_a_status() -> None:
    import domain.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, DomainError)]
    assert classes
    assert all(c.code in STATUS_OF_CODE for c in classes)


@settings(max_examples=50)
@given(st.sampled_from(sorted(STATUS_OF_CODE)), st.text(min_size=1, max_size=50))
def test_domain_errors_keep_their_code_and_message(code: str, message: str) -> None:
    from gateway.errors import _domain_error

    error = type("Custom", (DomainError,), {"code": code})(message)
    response = _domain_error(None, error)  # type: ignore[arg-type]
    assert response.status_code == STATUS_OF_CODE[code]
    assert response.content == {"error": message, "code": code}
