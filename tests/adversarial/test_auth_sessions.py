"""Issue 9 lows: a reused refresh token ends its whole session, access tokens included; sessions end."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from gateway.app import create_app
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


async def test_refresh_token_reuse_revokes_the_access_tokens_of_its_session(api: Api) -> None:
    await api.root()
    first = await api.login(ROOT_EMAIL)
    other_session = await api.login(ROOT_EMAIL)
    second = await api.ok("POST", "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    await api.ok("GET", "/v1/admin/orgs", token=second["access_token"])
    reused = await api.call("POST", "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_envelope(reused, 401, "UNAUTHENTICATED")
    for token in (first["access_token"], second["access_token"]):
        assert_envelope(await api.call("GET", "/v1/admin/orgs", token=token), 401, "UNAUTHENTICATED")
    await api.ok("GET", "/v1/admin/orgs", token=other_session["access_token"])  # other logins live on


async def test_a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed(stack: Stack) -> None:
    clock = Clock()
    deps = gateway_deps(stack, clock)
    deps = dataclasses.replace(
        deps, tokens=dataclasses.replace(deps.tokens, session_max_age=timedelta(hours=1))
    )
    async with http_client(create_app(deps)) as client:
        await stack.settle()
        creds = {"email": ROOT_EMAIL, "password": PASSWORD}
        assert (await client.post("/v1/admin/seed-user", json=creds)).status_code == 201
        login = (await client.post("/v1/auth/login", json=creds)).json()
        assert login["expires_in"] <= 3600
        refresh = login["refresh_token"]
        clock.offset = timedelta(minutes=50)
        step = await client.post("/v1/auth/refresh", json={"refresh_token": refresh})
        assert step.status_code == 200, step.text
        assert step.json()["expires_in"] <= 10 * 60  # never past the session's end
        clock.offset = timedelta(minutes=61)
        late = await client.post("/v1/auth/refresh", json={"refresh_token": step.json()["refresh_token"]})
        assert_envelope(late, 401, "UNAUTHENTICATED")
        auth = {"authorization": f"Bearer {step.json()['access_token']}"}
        assert_envelope(await client.get("/v1/admin/orgs", headers=auth), 401, "UNAUTHENTICATED")
