"""The gateway's Litestar app: one factory taking its collaborators; routes, auth, errors, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import uuid5

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler
from psycopg_pool import AsyncConnectionPool

from commands.tenancy import bootstrap_system_org
from domain.tenancy.org import SYSTEM_ORG_ID
from gateway.allow import allow_header_middleware
from gateway.asgi_types import ASGIApp
from gateway.audit import AuditController
from gateway.auth.guards import AUTH_DEPENDENCIES, NO_AUTH
from gateway.auth.principals import deps_of, is_authenticated
from gateway.bodies import StrictRequest
from gateway.changesets import ChangesetController
from gateway.definitions import DefinitionsController
from gateway.deps import GatewayDeps
from gateway.edge import Edge, install_edge
from gateway.encodings import DecodedBodies
from gateway.errors import EXCEPTION_HANDLERS
from gateway.evaluate import EvaluateController
from gateway.event_definitions import EventDefinitionController
from gateway.experiments import ExperimentController
from gateway.exposures import ExposureController
from gateway.flag_usage import FlagUsageController
from gateway.flags import FlagController
from gateway.identity import AdminController, AuthController
from gateway.ingest import IngestController
from gateway.invitations import InvitationController
from gateway.ofrep import OfrepController
from gateway.ofrep_openapi import finalize_ofrep_openapi
from gateway.openapi import finalize_openapi
from gateway.positions import parsed_position, requested_position
from gateway.probes import PROBE_ROUTES
from gateway.query import check_query
from gateway.saml.routes import SamlLoginController
from gateway.sdk_connections import SdkConnectionController
from gateway.sdk_key_aliases import SdkKeyAliasController, SdkKeyRevokeAlias
from gateway.segments import SegmentController
from gateway.sso.login_api import SsoLoginController
from gateway.sso.providers_api import AuthProviderController, SsoSettingsController
from gateway.tenancy import ProjectController, SdkKeyController
from gateway.tenancy_users import UserController

OPENAPI_PATH = "/docs"
# Fixed: every gateway start sends the same "create the system org" command, so only the first appends.
SYSTEM_ORG_COMMAND_ID = uuid5(SYSTEM_ORG_ID, "create-system-org")


@get("/healthz", security=NO_AUTH, tags=["health"], sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def route_handlers() -> list[ControllerRouterHandler]:
    """Every route of the gateway; helper modules add their controllers here (and only here)."""
    return [
        healthz,
        *PROBE_ROUTES,  # helper-ops
        AuthController,
        AdminController,
        InvitationController,  # helper-auth
        ProjectController,
        SdkKeyController,
        SdkKeyAliasController,  # the seed deployment guide's paths
        SdkKeyRevokeAlias,
        UserController,
        FlagController,
        SegmentController,
        ChangesetController,
        DefinitionsController,
        EventDefinitionController,
        ExperimentController,
        AuditController,
        EvaluateController,
        IngestController,  # helper-ingest
        ExposureController,  # helper-ingest
        OfrepController,  # helper-ofrep
        FlagUsageController,  # helper-ops
        SdkConnectionController,  # helper-ops
        AuthProviderController,  # helper-sso
        SsoSettingsController,  # helper-sso
        SsoLoginController,  # helper-sso
        SamlLoginController,  # helper-saml
    ]


def openapi_config() -> OpenAPIConfig:
    """The spec at /docs/openapi.json, Swagger UI at /docs, and the seed's two security schemes."""
    return OpenAPIConfig(
        title="Stitchd",
        version="1.0.0",
        description='Feature flags and experimentation. Errors answer {"error", "code"}.',
        path=OPENAPI_PATH,
        render_plugins=[SwaggerRenderPlugin(path="/")],
        components=Components(
            security_schemes={
                "sdk_key": SecurityScheme(type="apiKey", name="x-sdk-key", security_scheme_in="header"),
                "bearer_jwt": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
            }
        ),
        use_handler_docstrings=True,
    )


async def _before_request(request: Request[Any, Any, Any]) -> None:
    """After the guards, before any body, dependency or pooled connection: strict query, then position."""
    check_query(request)
    await _wait_for_min_position(request)


async def _wait_for_min_position(request: Request[Any, Any, Any]) -> None:
    """Read-your-writes across requests: a client may send the position of its last write.

    Parsed for everyone (a malformed header is a 400), honoured only for a caller the route's guard
    authenticated: an anonymous request never waits. SDK routes authenticate in the handler and honour
    it there, against their in-memory cache.
    """
    if parsed_position(request) is None or not is_authenticated(request):
        return
    position = await requested_position(request)
    if position is not None:
        await deps_of(request).settle(position)


def _constant(value: Any) -> Provide:
    def provide() -> Any:
        return value

    return Provide(provide, sync_to_thread=False)


def create_app(
    deps: GatewayDeps,
    *,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    bootstrap: bool = True,
) -> Litestar:
    """The gateway app; `bootstrap` creates the system organisation at startup (idempotent)."""

    async def on_startup(app: Litestar) -> None:
        if bootstrap:
            await bootstrap_system_org(deps.bus, command_id=SYSTEM_ORG_COMMAND_ID)

    dependencies: dict[str, Provide] = {
        "deps": _constant(deps),
        "event_log": _constant(deps.event_log),
        "bus": _constant(deps.bus),
        "db": _constant(deps.db),
        "clock": _constant(deps.clock),
        **AUTH_DEPENDENCIES,
    }
    app = Litestar(
        route_handlers=[*route_handlers(), *extra_route_handlers],
        dependencies=dependencies,
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=StrictRequest,
        before_request=_before_request,
        middleware=[allow_header_middleware],
        on_startup=[on_startup],
        openapi_config=openapi_config(),
        request_max_body_size=deps.settings.max_body_bytes,
        state=State({"deps": deps}),
        debug=False,
        # Keep the process's logging (JSON in production, secret redaction): Litestar's default
        # config would replace the root handler.
        logging_config=None,
    )
    finalize_openapi(app)
    finalize_ofrep_openapi(app)  # helper-ofrep: OFREP documents its own bodies
    install_edge(app, lambda inner: edge_for(DecodedBodies(inner, deps.settings.max_body_bytes), deps))
    return app


def edge_for(inner: ASGIApp, deps: GatewayDeps) -> Edge:
    """Rate limits, load shedding and HTTP metrics around the (body-decoding) app."""
    s = deps.settings
    return Edge(inner, s.limits, tokens=deps.tokens, clock=deps.clock, proxies=s.trusted_proxies)


# Types handlers may annotate NamedDependency with (re-exported for helper modules).
ReadPool = AsyncConnectionPool[Any]
Clock = Callable[[], datetime]
