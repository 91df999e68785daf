"""Rate limits and load shedding at the gateway's edge (seed 004): per address, per credential,
log-only, trusted proxies, the in-flight cap; 429/503 in the envelope, documented in the OpenAPI."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import get

from gateway.app import create_app
from gateway.auth.addresses import client_address, parse_networks
from gateway.auth.guards import NO_AUTH
from gateway.auth.tokens import TokenSettings, issue_access_token, utc_now
from gateway.deps import GatewaySettings
from gateway.ratelimit import Buckets, LimitSettings
from stitchd.gateway_main import _offline_deps, openapi_document
from stitchd.settings import RateLimitSettings, Settings, SettingsError
from telemetry import metrics
from tests.integration.ops.support import metrics_on, sample

SPEC = "/docs/openapi.json"
OFF = LimitSettings()
RELEASE = asyncio.Event()


@get("/test/slow", security=NO_AUTH, include_in_schema=False)
async def slow() -> dict[str, str]:
    await RELEASE.wait()
    return {"status": "done"}


@asynccontextmanager
async def client_for(
    limits: LimitSettings, *, peer: str = "198.51.100.7", proxies: tuple[str, ...] = ()
) -> AsyncIterator[httpx.AsyncClient]:
    deps = dataclasses.replace(
        _offline_deps(),
        settings=GatewaySettings(limits=limits, trusted_proxies=parse_networks(",".join(proxies))),
    )
    app = create_app(deps, bootstrap=False, extra_route_handlers=[slow])
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert set(response.json()) == {"error", "code"}
    assert int(response.headers["retry-after"]) >= 1


async def test_an_address_over_its_burst_gets_429_with_retry_after_and_others_do_not() -> None:
    limits = dataclasses.replace(OFF, ip_enabled=True, ip_capacity=3, ip_per_second=0.01)
    async with client_for(limits) as client:
        answers = [await client.get(SPEC) for _ in range(4)]
        other = await client.get(SPEC, headers={"x-forwarded-for": "203.0.113.9"})  # not trusted: ignored
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    _refused(answers[3], 429, "RESOURCE_EXHAUSTED")
    assert int(answers[3].headers["retry-after"]) >= 99  # one token at 0.01/s
    _refused(other, 429, "RESOURCE_EXHAUSTED")


async def test_each_credential_has_its_own_bucket_and_a_forged_jwt_subject_shares_none() -> None:
    limits = dataclasses.replace(
        OFF, credential_enabled=True, credential_capacity=2, credential_per_second=0.01
    )
    deps = _offline_deps()
    real = issue_access_token(
        deps.tokens,
        user_id=_uuid(1),
        org_id=_uuid(2),
        credentials_version=1,
        session_id=_uuid(3),
        now=utc_now(),
    )
    forged_settings = TokenSettings(secret="someone-else-entirely-" * 2)
    forged = issue_access_token(
        forged_settings,
        user_id=_uuid(1),
        org_id=_uuid(2),
        credentials_version=1,
        session_id=_uuid(3),
        now=utc_now(),
    )
    async with client_for(limits) as client:
        key_a = [await client.get(SPEC, headers={"x-sdk-key": "sdk_live_a"}) for _ in range(3)]
        key_b = await client.get(SPEC, headers={"x-sdk-key": "sdk_live_b"})
        forged_answers = [
            await client.get(SPEC, headers={"authorization": f"Bearer {forged.token}"}) for _ in range(3)
        ]
        real_answer = await client.get(SPEC, headers={"authorization": f"Bearer {real.token}"})
        anonymous = await client.get(SPEC)
    assert [a.status_code for a in key_a] == [200, 200, 429]
    assert key_b.status_code == 200
    assert [a.status_code for a in forged_answers] == [200, 200, 429]
    assert real_answer.status_code == 200  # the forged token spent its own bucket, not the subject's
    assert anonymous.status_code == 200  # no credential: only the address limit applies


async def test_log_only_never_refuses_but_counts_what_it_would_have_refused() -> None:
    limits = dataclasses.replace(OFF, ip_enabled=True, ip_capacity=1, ip_per_second=0.01, log_only=True)
    with metrics_on():
        before = sample(
            metrics.render().decode(), "stitchd_rate_limit_decisions_total", limiter="ip", decision="log_only"
        )
        async with client_for(limits) as client:
            answers = [await client.get(SPEC) for _ in range(3)]
        after = sample(
            metrics.render().decode(), "stitchd_rate_limit_decisions_total", limiter="ip", decision="log_only"
        )
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert (after or 0) - (before or 0) == 2


async def test_x_forwarded_for_is_believed_only_from_a_configured_proxy() -> None:
    limits = dataclasses.replace(OFF, ip_enabled=True, ip_capacity=1, ip_per_second=0.01)
    async with client_for(limits, peer="10.0.0.5", proxies=("10.0.0.0/8",)) as client:
        first = await client.get(SPEC, headers={"x-forwarded-for": "203.0.113.1"})
        second = await client.get(SPEC, headers={"x-forwarded-for": "203.0.113.2"})
        spoofed = await client.get(SPEC, headers={"x-forwarded-for": "203.0.113.9, 203.0.113.1"})
    assert (first.status_code, second.status_code) == (200, 200)  # two clients behind the proxy
    assert spoofed.status_code == 429  # the right-most untrusted hop is the client; the rest is theirs


async def test_over_max_concurrency_is_503_at_once_and_the_cap_frees_up() -> None:
    RELEASE.clear()
    limits = dataclasses.replace(OFF, max_concurrency=1)
    async with client_for(limits) as client:
        stuck = asyncio.create_task(client.get("/test/slow"))
        for _ in range(200):  # wait until the slow request is in flight (bounded)
            shed = await client.get(SPEC)
            if shed.status_code == 503:
                break
            await asyncio.sleep(0.01)
        RELEASE.set()
        assert (await stuck).status_code == 200
        after = await client.get(SPEC)
    _refused(shed, 503, "UNAVAILABLE")
    assert after.status_code == 200


async def test_probes_are_never_limited() -> None:
    limits = dataclasses.replace(OFF, ip_enabled=True, ip_capacity=1, ip_per_second=0.01, max_concurrency=1)
    async with client_for(limits) as client:
        answers = [await client.get("/healthz") for _ in range(5)]
    assert {a.status_code for a in answers} == {200}


def test_every_documented_route_but_the_probes_declares_429_and_503() -> None:
    spec = openapi_document()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert {"429", "503"} <= set(op["responses"]), (method, path)


def test_the_seed_variable_names_configure_the_limits() -> None:
    env = {
        "FLAGS_RATE_LIMIT_ENABLED": "false",
        "FLAGS_BUCKET_CAPACITY": "7",
        "FLAGS_BUCKET_REPLENISH_RATE": "0.5",
        "FLAGS_IP_RATE_LIMIT_ENABLED": "true",
        "FLAGS_IP_BURST_SIZE": "9",
        "FLAGS_IP_REPLENISH_RATE": "3",
        "FLAGS_RATE_LIMIT_LOG_ONLY": "true",
        "MAX_CONCURRENCY": "12",
        "STITCHD_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
    }
    s = Settings.from_env(env)
    assert s.rate_limit == RateLimitSettings(
        credential_enabled=False, credential_capacity=7, credential_per_second=0.5, ip_enabled=True,
        ip_capacity=9, ip_per_second=3, log_only=True, max_concurrency=12,
    )  # fmt: skip
    assert s.trusted_proxies == "10.0.0.0/8, 192.0.2.1"
    assert Settings.from_env({}).rate_limit == RateLimitSettings()
    assert set(dataclasses.asdict(RateLimitSettings())) == set(dataclasses.asdict(LimitSettings()))


@pytest.mark.parametrize(
    ("name", "value"),
    [("FLAGS_BUCKET_CAPACITY", "0"), ("FLAGS_IP_REPLENISH_RATE", "fast"),
     ("FLAGS_RATE_LIMIT_LOG_ONLY", "maybe"), ("MAX_CONCURRENCY", "-1"),
     ("STITCHD_TRUSTED_PROXIES", "10.0.0.0/99")],
)  # fmt: skip
def test_bad_limit_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 50),
    rate=st.floats(0.1, 100),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_a_bucket_never_allows_more_than_its_burst_plus_what_refilled(
    capacity: int, rate: float, gaps: list[float]
) -> None:
    buckets, now, allowed = Buckets(capacity, rate), 1000.0, 0
    start = now
    for gap in gaps:
        now += gap
        allowed += buckets.take("k", now) == 0.0
    assert allowed <= capacity + (now - start) * rate + 1e-6


def test_stale_buckets_are_swept_once_full_again_and_live_ones_kept() -> None:
    buckets = Buckets(10, 1.0)
    buckets.take("idle", 0.0)
    buckets.sweep(0.0)
    buckets.take("busy", 55.0)
    buckets.take("trigger", 61.0)  # the first request after 60 s sweeps
    assert len(buckets) == 2  # "idle" (full after 10 s) went, "busy" and "trigger" stay
    assert buckets.take("idle", 61.5) == 0.0  # a forgotten bucket comes back full


def test_retry_after_says_when_one_token_is_back() -> None:
    buckets = Buckets(1, 0.5)
    assert buckets.take("k", 0.0) == 0.0
    assert buckets.take("k", 0.0) == pytest.approx(2.0)
    assert buckets.take("k", 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("10.0.0.5", "203.0.113.1", "203.0.113.1"),
        ("10.0.0.5", "203.0.113.9, 203.0.113.1, 10.0.0.7", "203.0.113.1"),
        ("10.0.0.5", "10.0.0.8, 10.0.0.7", "10.0.0.5"),  # every hop a proxy: the peer
        ("198.51.100.1", "203.0.113.1", "198.51.100.1"),  # peer not a proxy: header ignored
        ("10.0.0.5", None, "10.0.0.5"),
    ],
)
def test_client_address(peer: str, xff: str | None, expected: str) -> None:
    assert client_address(peer, xff, parse_networks("10.0.0.0/8")) == expected


def _uuid(n: int) -> Any:
    from uuid import UUID

    return UUID(int=n)
