"""Issue 9 item 7: the login throttle cannot be dodged by blank variants, bursts or a forged header."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher

from gateway.app import create_app
from gateway.auth.addresses import parse_networks
from gateway.auth.passwords import Passwords
from tests.integration.gateway.support import (
    PASSWORD,
    ROOT_EMAIL,
    Api,
    Clock,
    assert_envelope,
    gateway_deps,
    http_client,
)
from tests.stack import Stack

pytestmark = pytest.mark.integration


class CountingHasher(PasswordHasher):
    """Cheap argon2id that records how many hashings and verifications ran, and how many at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.lock = threading.Lock()
        self.calls = self.running = self.most = 0

    def _enter(self) -> None:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)

    def _leave(self) -> None:
        with self.lock:
            self.running -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._enter()
        try:
            return super().hash(password, salt=salt)
        finally:
            self._leave()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._enter()
        try:
            return super().verify(hash, password)
        finally:
            self._leave()


@pytest.fixture(name="hasher")
def hasher_fixture() -> CountingHasher:
    return CountingHasher()


@pytest.fixture(name="capped")
async def capped_fixture(stack: Stack, hasher: CountingHasher) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with a counting hasher, at most 2 hashings at once and 6 waiting."""
    deps = gateway_deps(stack, Clock())
    deps = dataclasses.replace(deps, passwords=Passwords(hasher, max_concurrent=2, max_waiting=6))
    async with http_client(create_app(deps)) as client:
        await stack.settle()
        seeded = await client.post("/v1/admin/seed-user", json={"email": ROOT_EMAIL, "password": PASSWORD})
        assert seeded.status_code == 201, seeded.text
        yield client


def _wrong(email: str) -> dict[str, str]:
    return {"email": email, "password": "wrong password!"}


@pytest.mark.parametrize(
    "variant", [f" {ROOT_EMAIL}", f"{ROOT_EMAIL}\t", f"\u3000{ROOT_EMAIL}", ROOT_EMAIL.upper()]
)
async def test_blank_and_case_variants_of_an_email_share_its_bucket(api: Api, variant: str) -> None:
    await api.root()
    for i in range(5):
        failed = await api.call("POST", "/v1/auth/login", json=_wrong(ROOT_EMAIL), headers={})
        assert_envelope(failed, 401, "UNAUTHENTICATED"), i
    assert_envelope(await api.call("POST", "/v1/auth/login", json=_wrong(variant)), 429, "RESOURCE_EXHAUSTED")


async def test_a_burst_of_200_attempts_on_one_account_runs_at_most_its_bucket_of_checks(
    capped: httpx.AsyncClient, hasher: CountingHasher
) -> None:
    before = hasher.calls
    answers = await asyncio.gather(
        *(capped.post("/v1/auth/login", json=_wrong(ROOT_EMAIL)) for _ in range(200))
    )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 5
    assert statuses.count(429) >= 195
    assert all(set(a.json()) == {"error", "code"} for a in answers)
    assert hasher.calls - before <= 5
    assert hasher.most <= 2


async def test_a_burst_over_many_accounts_never_runs_more_than_the_cap_of_hashings(
    capped: httpx.AsyncClient, hasher: CountingHasher
) -> None:
    answers = await asyncio.gather(
        *(capped.post("/v1/auth/login", json=_wrong(f"nobody{i}@x.test")) for i in range(60))
    )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 20  # the one address's bucket
    assert hasher.most <= 2


async def test_a_forged_forwarded_for_header_gets_no_fresh_bucket(api: Api) -> None:
    for i in range(20):
        headers = {"x-forwarded-for": f"203.0.113.{i}"}
        failed = await api.call("POST", "/v1/auth/login", json=_wrong(f"u{i}@x.test"), headers=headers)
        assert_envelope(failed, 401)
    fresh = {"x-forwarded-for": "198.51.100.1"}
    assert_envelope(await api.call("POST", "/v1/auth/login", json=_wrong("z@x.test"), headers=fresh), 429)


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(stack: Stack) -> None:
    deps = gateway_deps(stack, Clock())
    settings = dataclasses.replace(deps.settings, trusted_proxies=parse_networks("127.0.0.1/32"))
    async with http_client(create_app(dataclasses.replace(deps, settings=settings))) as client:
        await stack.settle()
        for i in range(20):
            headers = {"x-forwarded-for": f"198.51.100.7, 203.0.113.{i}"}
            answer = await client.post("/v1/auth/login", json=_wrong(f"u{i}@x.test"), headers=headers)
            assert answer.status_code == 401, answer.text
        same = {"x-forwarded-for": "203.0.113.0"}
        assert (await client.post("/v1/auth/login", json=_wrong("v@x.test"), headers=same)).status_code == 401
        for i in range(20):
            await client.post(
                "/v1/auth/login", json=_wrong(f"w{i}@x.test"), headers={"x-forwarded-for": "192.0.2.9"}
            )
        other = {"x-forwarded-for": "192.0.2.9"}
        assert (
            await client.post("/v1/auth/login", json=_wrong("y@x.test"), headers=other)
        ).status_code == 429
