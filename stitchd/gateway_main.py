"""Gateway composition root: `stitchd gateway` (uvicorn on HTTP_PORT), `stitchd openapi`, `seed-user`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from litestar import Litestar
from psycopg_pool import AsyncConnectionPool

from commands.bus import CommandBus
from commands.postgres_store import open_postgres_store
from commands.tenancy import ensure_system_org
from domain.quotas import Quotas
from gateway.app import SYSTEM_ORG_COMMAND_ID, create_app
from gateway.auth.addresses import parse_networks
from gateway.auth.passwords import Passwords
from gateway.auth.refresh import MemoryRefreshTokens, PostgresRefreshTokens
from gateway.auth.tokens import TokenSettings, load_jwt_secret, utc_now
from gateway.deps import GatewayDeps, GatewaySettings, PoolWaiter
from gateway.evaluate import DEFINITIONS_STATE, definitions_loaded, start_definitions
from gateway.exposures import jetstream_ingest
from gateway.probes import PROBES_STATE
from gateway.ratelimit import LimitSettings
from gateway.saml.settings import SamlSettings
from gateway.sso.settings import SsoSettings
from projections.registry import PROJECTIONS
from stitchd.processes import Resources
from stitchd.settings import Limits, Settings
from stitchd.write_side import write_bus
from telemetry.admin import admin_server
from telemetry.probes import Check, NotReadyError, Probes

FOLLOWER_LAG_SECONDS = 1.0  # readiness: the definitions cache reaches the store head within this


def quotas_of(limits: Limits) -> Quotas:
    """The domain's quotas from the process settings."""
    return Quotas(
        projects_per_org=limits.projects_per_org,
        environments_per_org=limits.environments_per_org,
        flags_per_org=limits.flags_per_org,
        segments_per_org=limits.segments_per_org,
        sdk_keys_per_environment=limits.sdk_keys_per_environment,
        members_per_segment=limits.members_per_segment,
    )


def sso_settings(settings: Settings) -> SsoSettings:
    """The gateway's SSO knobs from the process settings."""
    return SsoSettings(
        secret_key=settings.sso_secret_key,
        allow_private_idp=settings.sso_allow_private_idp,
        require_https=settings.sso_require_https,
        public_url=settings.sso_public_url,
        http_timeout_seconds=float(settings.sso_http_timeout_seconds),
        state_ttl=timedelta(seconds=settings.sso_state_ttl_seconds),
    )


def saml_settings_of(settings: Settings) -> SamlSettings:
    """The SAML login's knobs from the process settings (STITCHD_SAML_*)."""
    return SamlSettings(
        skew_seconds=settings.saml_clock_skew_seconds,
        max_response_bytes=settings.saml_max_response_bytes,
        metadata_cache_seconds=settings.saml_metadata_cache_seconds,
    )


@asynccontextmanager
async def gateway_deps(settings: Settings, database_url: str) -> AsyncIterator[GatewayDeps]:
    """Open the store and the read pool for the block; the JWT secret comes from settings or the data dir."""
    secret = load_jwt_secret(settings.jwt_secret, data_dir=settings.data_dir, production=settings.production)
    store = await open_postgres_store(database_url)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url, min_size=1, max_size=10, kwargs={"autocommit": True}, open=False
    )
    try:
        # Opened inside the try: a cancellation while opening must still close the pool's workers.
        await pool.open(wait=True)
        quotas = quotas_of(settings.limits)
        yield GatewayDeps(
            event_log=store,
            bus=write_bus(store, pool, clock=utc_now, quotas=quotas),
            db=pool,
            clock=utc_now,
            tokens=TokenSettings(
                secret=secret, session_max_age=timedelta(hours=settings.session_max_age_hours)
            ),
            waiter=PoolWaiter(pool, [p.NAME for p in PROJECTIONS]),
            refresh_tokens=PostgresRefreshTokens(pool),
            passwords=Passwords(max_concurrent=settings.password_hash_concurrency),
            settings=gateway_settings(settings),
            quotas=quotas,
            sso=sso_settings(settings),
            saml=saml_settings_of(settings),
        )
    finally:
        await pool.close()
        await store.aclose()


def gateway_settings(settings: Settings) -> GatewaySettings:
    """The gateway's limits from the process settings (rate limits are on unless switched off)."""
    return GatewaySettings(
        limits=LimitSettings(**dataclasses.asdict(settings.rate_limit)),
        exposure_buffer_max=settings.limits.exposure_buffer_max,
        definition_history_bytes=settings.limits.definition_history_bytes,
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )


def gateway_probes(app: Litestar, deps: GatewayDeps, ingest: Any, follower: asyncio.Task[None]) -> Probes:
    """Readiness: the read pool answers, JetStream answers, the definitions follower runs and its cache
    reaches the store's head within FOLLOWER_LAG_SECONDS (a stuck cache would serve stale flags)."""
    cache = app.state[DEFINITIONS_STATE]

    async def postgres() -> None:
        async with deps.db.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")

    async def nats_ok() -> None:
        await ingest.ping()

    async def definitions() -> None:
        if follower.done():
            raise NotReadyError("the definitions follower stopped")
        head = await deps.event_log.head_position()
        if not await cache.wait_for_position(head, FOLLOWER_LAG_SECONDS):
            raise NotReadyError(f"definitions at {cache.position}, store at {head}")

    checks: dict[str, Check] = {"postgres": postgres, "nats": nats_ok, "definitions": definitions}
    return Probes(checks=checks, started=lambda: definitions_loaded(app.state))


@dataclass(frozen=True)
class GatewayApp:
    """The gateway app and the task keeping its DefinitionsCache current (cancelled at exit)."""

    app: Litestar
    follower: asyncio.Task[None]


@asynccontextmanager
async def gateway_app(settings: Settings, resources: Resources) -> AsyncIterator[GatewayApp]:
    """The app on its deps and JetStream ingest, its DefinitionsCache already caught up and followed from
    STITCHD_EVENTS (so the SDK routes never build one lazily or poll); the follower stops at exit."""
    async with (
        gateway_deps(settings, resources.database_url) as deps,
        jetstream_ingest(resources.nats_url) as ingest,  # helper-ingest: /events, /exposures, exposures
    ):
        app = create_app(dataclasses.replace(deps, ingest=ingest))
        follower = await start_definitions(
            app,
            deps.event_log,
            nats_url=resources.nats_url,
            history_bytes=settings.limits.definition_history_bytes,
        )
        app.state[PROBES_STATE] = gateway_probes(app, deps, ingest, follower)
        try:
            yield GatewayApp(app, follower)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)


async def run(settings: Settings, resources: Resources) -> None:
    """Serve the gateway on HTTP_PORT until cancelled (or until its definitions follower fails)."""
    import uvicorn

    async with gateway_app(settings, resources) as gateway:
        probes = gateway.app.state[PROBES_STATE]
        admin = admin_server(probes, port=settings.admin_port, serve_metrics=settings.enable_metrics)
        config = uvicorn.Config(
            gateway.app,
            host=os.environ.get("STITCHD_HTTP_HOST", "0.0.0.0"),
            port=settings.http_port,
            log_config=None,
            access_log=False,
        )
        async with admin:
            await _serve_until_cancelled(uvicorn.Server(config), gateway.follower)


async def _serve_until_cancelled(server: Any, follower: asyncio.Task[None]) -> None:
    """Run uvicorn; on cancellation ask it to exit and let it finish its lifespan shutdown cleanly.

    A follower that stops ends the process with its error: a gateway whose cache no longer moves would
    answer /evaluate from stale definitions without anyone noticing (the broadcaster does the same).
    """
    task = asyncio.ensure_future(server.serve())
    try:
        await asyncio.wait((task, follower), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        server.should_exit = True
        await task
        raise
    if task.done():
        task.result()
        return
    server.should_exit = True
    await task
    follower.result()
    raise RuntimeError("the gateway's definitions follower stopped")


def _offline_deps() -> GatewayDeps:
    """Collaborators that are never called: enough to build the app and its spec without any server."""
    return GatewayDeps(
        event_log=_NoStore(),
        bus=CommandBus(_NoStore(), {}, (), clock=utc_now),
        db=AsyncConnectionPool("", open=False),
        clock=utc_now,
        tokens=TokenSettings(secret="x" * 32),
        waiter=_no_wait,
        refresh_tokens=MemoryRefreshTokens(),
    )


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the full route table (no database needed)."""
    return create_app(_offline_deps(), bootstrap=False).openapi_schema.to_schema()


def openapi_main(argv: list[str]) -> int:
    """`stitchd openapi [-o FILE]`: print or write the gateway's OpenAPI JSON."""
    parser = argparse.ArgumentParser(prog="stitchd openapi", description="export the gateway's OpenAPI spec")
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    text = json.dumps(openapi_document(), indent=2, sort_keys=True)
    if args.output:
        args.output.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def seed_user_main(argv: list[str]) -> int:
    """`stitchd seed-user --email E`: add a system admin.

    The password comes from STITCHD_SEED_PASSWORD, stdin (--password-stdin) or a prompt, never from the
    command line, where other local users could read it.
    """
    parser = argparse.ArgumentParser(
        prog="stitchd seed-user", description="create a system organisation admin"
    )
    parser.add_argument("--email", required=True)
    parser.add_argument("--display-name", default=None)
    parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    args = parser.parse_args(argv)
    password = os.environ.get("STITCHD_SEED_PASSWORD") or (
        sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    )
    settings = Settings.from_env()
    if settings.database_url is None:
        sys.stderr.write("stitchd seed-user: DATABASE_URL must be set\n")
        return 2
    user_id = asyncio.run(seed_user(settings.database_url, args.email, password, args.display_name))
    sys.stdout.write(f"created system admin {args.email} ({user_id})\n")
    return 0


async def seed_user(database_url: str, email: str, password: str, display_name: str | None) -> str:
    """Register a system admin directly through the command handlers (operators with database access)."""
    from commands.identity import register_user
    from domain.tenancy.commands import RegisterUser
    from domain.tenancy.events import OrgRole
    from domain.tenancy.org import SYSTEM_ORG_ID
    from gateway.auth.passwords import password_problem
    from readmodels.vault import PostgresVault

    problem = password_problem(password)
    if problem:
        raise SystemExit(f"stitchd seed-user: {problem}")
    store = await open_postgres_store(database_url)
    try:
        await ensure_system_org(store=store, clock=utc_now, command_id=SYSTEM_ORG_COMMAND_ID)
        cmd = RegisterUser(
            command_id=uuid4(),
            user_id=uuid4(),
            email=email,
            display_name=display_name or email.partition("@")[0],
            password_hash=await Passwords().hash(password),
            org_id=SYSTEM_ORG_ID,
            role=OrgRole.ORG_ADMIN,
        )
        await register_user(cmd, store=store, clock=utc_now, actor="cli", vault=PostgresVault(store.pool))
        return str(cmd.user_id)
    finally:
        await store.aclose()


class _NoStore:
    """Never called: the spec export builds the app without serving a request."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the OpenAPI export touches no event store")


async def _no_wait(position: int, within: float) -> bool:
    return True
