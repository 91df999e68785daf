"""SSO building blocks without services: sealed secrets, the SSRF guard, bounded answers, the JWKS
refetch bound, group -> role mapping and what verified claims assert (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc.jwk import RSAKey

from domain.auth_providers.events import OidcSettings, ProviderConfig
from domain.auth_providers.provider import AuthProvider
from gateway.sso.jwks import OidcCache
from gateway.sso.oidc import asserted
from gateway.sso.outbound import (
    BlockedAddress,
    GuardedBackend,
    IdpUnavailable,
    bounded_request,
    idp_client,
    is_public,
)
from gateway.sso.provisioning import mapped_role
from gateway.sso.secrets import SecretBox, SecretUnavailable
from gateway.sso.settings import SsoSettings

NOW = datetime(2026, 12, 7, tzinfo=UTC)
ISSUER = "https://idp.example.com"


@given(st.text(min_size=12, max_size=200))
def test_a_sealed_secret_opens_only_for_its_provider_and_key(secret: str) -> None:
    box, provider, other = SecretBox(b"a" * 32), uuid4(), uuid4()
    sealed = box.seal(provider, secret)
    assert sealed.startswith("sealed:v1:")
    assert secret not in sealed
    assert box.open(provider, sealed) == secret
    with pytest.raises(SecretUnavailable):
        box.open(other, sealed)  # the provider id is the associated data
    with pytest.raises(SecretUnavailable):
        SecretBox(b"b" * 32).open(provider, sealed)


def test_no_secret_stays_empty_and_the_key_never_prints() -> None:
    box = SecretBox(b"k" * 32)
    assert box.seal(uuid4(), "") == ""
    assert "k" * 8 not in repr(box)
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox(b"short")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
        ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
        ("8.8.8.8", True), ("2001:4860:4860::8888", True), ("::ffff:8.8.8.8", True),
    ],
)  # fmt: skip
def test_only_globally_routable_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_the_guard_refuses_a_loopback_idp_before_connecting() -> None:
    backend = GuardedBackend(allow_private=False)
    with pytest.raises(BlockedAddress, match="not public"):
        await backend.connect_tcp("localhost", 9, timeout=2)
    async with idp_client(SsoSettings()) as client:
        with pytest.raises(IdpUnavailable, match="not public"):
            await bounded_request(client, "GET", "http://127.0.0.1:9/x", limit=100)


async def test_an_oversized_answer_is_refused() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"x" * 5000))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(IdpUnavailable, match="too large"):
            await bounded_request(client, "GET", "https://idp.example.com/jwks", limit=4096)


def _idp_transport(jwks: list[dict[str, Any]], hits: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        if request.url.path.endswith("openid-configuration"):
            endpoints = {"authorization_endpoint": f"{ISSUER}/a", "token_endpoint": f"{ISSUER}/t"}
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks", **endpoints})
        return httpx.Response(200, json={"keys": jwks})

    return httpx.MockTransport(answer)


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval() -> None:
    hits: list[str] = []
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}).as_dict(private=False)
    settings, cache = SsoSettings(jwks_refetch_interval=timedelta(seconds=30)), OidcCache()
    async with httpx.AsyncClient(transport=_idp_transport([key], hits)) as client:
        await cache.discovery(client, ISSUER, settings, NOW)
        await cache.keys(client, ISSUER, settings, NOW, refresh=False)
        for seconds in (1, 2, 29):  # a burst of forged kids: no refetch within the interval
            await cache.keys(client, ISSUER, settings, NOW + timedelta(seconds=seconds), refresh=True)
        await cache.keys(client, ISSUER, settings, NOW + timedelta(seconds=31), refresh=True)
        await cache.keys(client, ISSUER, settings, NOW + timedelta(seconds=40), refresh=False)
    assert hits.count("/jwks") == 2


async def test_a_discovery_document_naming_another_issuer_is_refused() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": "https://evil.example", "authorization_endpoint": "x",
                                         "token_endpoint": "y", "jwks_uri": "z"})  # fmt: skip

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(IdpUnavailable, match="another issuer"):
            await OidcCache().discovery(client, ISSUER, SsoSettings(), NOW)


def _provider(group_roles: dict[str, str]) -> AuthProvider:
    config = ProviderConfig(display_name="P", oidc=OidcSettings(issuer_url=ISSUER, client_id="c"),
                            group_roles=group_roles)  # fmt: skip
    return AuthProvider(id=uuid4(), version=1, org_id=uuid4(), config=config, created_at=NOW, updated_at=NOW)


def test_the_highest_mapped_role_wins_and_unmapped_groups_map_nothing() -> None:
    provider = _provider({"staff": "viewer", "devs": "org_member", "ops": "org_admin"})
    assert mapped_role(provider, ("devs", "staff")) == "org_member"
    assert mapped_role(provider, ("ops", "staff", "devs")) == "org_admin"
    assert mapped_role(provider, ("strangers",)) is None
    assert mapped_role(provider, ()) is None


def test_claims_assert_a_verified_email_only_when_the_idp_says_so() -> None:
    base = {"sub": "s", "email": "a@example.com"}
    assert asserted({**base, "email_verified": True}).email_verified
    assert asserted({**base, "email_verified": "true"}).email_verified  # some IdPs send a string
    assert not asserted(base).email_verified
    assert not asserted({**base, "email_verified": "yes please"}).email_verified
    assert asserted({**base, "groups": "admins"}).groups == ()  # not a list: no groups
