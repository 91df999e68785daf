"""/_liveness, /_readiness and /_startup on the gateway's own port (Kubernetes probes).

The composition root installs the process's `Probes` in `app.state[PROBES_STATE]` (Postgres, NATS, the
definitions follower's lag); an app built without them (tests, tools) checks its read pool and
whether its DefinitionsCache is loaded. Not in the OpenAPI document: they are for the platform, and
answer `{"status", "checks"}` rather than the API's shapes.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from gateway.auth.guards import NO_AUTH
from gateway.auth.principals import deps_of
from gateway.evaluate import definitions_loaded
from telemetry.probes import ProbeAnswer, Probes

PROBES_STATE = "probes"
AnyRequest = Request[Any, Any, Any]


def default_probes(request: AnyRequest) -> Probes:
    pool = deps_of(request).db
    state = request.app.state

    async def postgres() -> None:
        async with pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")

    return Probes(checks={"postgres": postgres}, started=lambda: definitions_loaded(state))


def probes_of(request: AnyRequest) -> Probes:
    found = request.app.state.get(PROBES_STATE)
    return found if isinstance(found, Probes) else default_probes(request)


def _response(answer: ProbeAnswer) -> Response[bytes]:
    return Response(answer.body, status_code=answer.status, media_type="application/json")


_OPTS: dict[str, Any] = {"security": NO_AUTH, "include_in_schema": False, "cache_control": None}


@get("/_liveness", **_OPTS)
async def liveness(request: AnyRequest) -> Response[bytes]:
    """The process and its event loop answer."""
    return _response(await probes_of(request).liveness())


@get("/_readiness", **_OPTS)
async def readiness(request: AnyRequest) -> Response[bytes]:
    """Every dependency usable: Postgres, NATS, definitions caught up."""
    return _response(await probes_of(request).readiness())


@get("/_startup", **_OPTS)
async def startup(request: AnyRequest) -> Response[bytes]:
    """Start-up work done: the definitions cache is loaded."""
    return _response(await probes_of(request).startup())


PROBE_ROUTES = [liveness, readiness, startup]
