"""Litestar guards (who may call a route) and dependencies (who is calling, which environment).

Guards run before the handler and authenticate as a side effect (cached per request); the
`caller`, `env_scope`, `sdk_scope` and `any_scope` dependencies hand the result to handlers.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from gateway.auth.principals import (
    SDK_KEY_HEADER,
    Caller,
    SdkCaller,
    authenticate,
    authenticate_sdk_key,
    deps_of,
)
from gateway.errors import NotFound, PermissionDenied
from readmodels import directory

AnyRequest = Request[Any, Any, Any]
Connection = ASGIConnection[Any, Any, Any, Any]

Security = list[dict[str, list[str]]]
BEARER: Security = [{"bearer_jwt": []}]
SDK_KEY: Security = [{"sdk_key": []}]
SDK_KEY_OR_BEARER: Security = [{"sdk_key": []}, {"bearer_jwt": []}]
NO_AUTH: Security = []


class EnvironmentScope(msgspec.Struct, frozen=True, kw_only=True):
    """An environment the caller may touch, with its owners; `actor` goes into event metadata."""

    environment_id: UUID
    project_id: UUID
    org_id: UUID
    actor: str
    caller: Caller | None = None  # None when authenticated by an SDK key


async def _tenant(connection: Connection) -> Caller:
    caller = await authenticate(connection)
    if caller.is_system:
        raise PermissionDenied(
            "system organisation tokens are for /v1/admin; switch to a tenant organisation"
        )
    return caller


async def tenant_reader(connection: Connection, _: BaseRouteHandler) -> None:
    """Any member of a tenant organisation (viewer, member, admin)."""
    await _tenant(connection)


async def tenant_writer(connection: Connection, _: BaseRouteHandler) -> None:
    """A tenant member allowed to change things (member or admin, not viewer)."""
    if not (await _tenant(connection)).can_write:
        raise PermissionDenied("viewers cannot change anything")


async def org_admin(connection: Connection, _: BaseRouteHandler) -> None:
    """An admin of a tenant organisation."""
    if not (await _tenant(connection)).is_admin:
        raise PermissionDenied("organisation admin role required")


async def system_admin(connection: Connection, _: BaseRouteHandler) -> None:
    """An admin acting in the system organisation."""
    await require_system_admin(connection)


async def require_system_admin(connection: Connection) -> Caller:
    """The caller if a system organisation admin, else Unauthenticated / PermissionDenied."""
    caller = await authenticate(connection)
    if not (caller.is_system and caller.is_admin):
        raise PermissionDenied("system organisation admin required")
    return caller


async def provide_caller(request: AnyRequest) -> Caller:
    """The authenticated human (any organisation, any role)."""
    return await authenticate(request)


async def provide_env_scope(request: AnyRequest, env_id: FromPath[UUID]) -> EnvironmentScope:
    """The path's environment if it belongs to the bearer caller's organisation, else 404."""
    return await _env_of_caller(request, await _tenant(request), env_id)


async def provide_sdk_scope(request: AnyRequest, env_id: FromPath[UUID]) -> EnvironmentScope:
    """The path's environment if the x-sdk-key unlocks it, else 404 (401 for a bad key)."""
    return await _env_of_key(request, await authenticate_sdk_key(request), env_id)


async def provide_any_scope(request: AnyRequest, env_id: FromPath[UUID]) -> EnvironmentScope:
    """x-sdk-key when present, else the bearer JWT; the environment must be theirs (404 otherwise)."""
    if request.headers.get(SDK_KEY_HEADER) is not None:
        return await _env_of_key(request, await authenticate_sdk_key(request), env_id)
    return await _env_of_caller(request, await _tenant(request), env_id)


async def _env_of_caller(request: AnyRequest, caller: Caller, env_id: UUID) -> EnvironmentScope:
    env = await directory.get_environment(deps_of(request).db, env_id)
    if env is None or env.org_id != caller.org_id:
        raise NotFound(f"environment {env_id} not found")
    return EnvironmentScope(
        environment_id=env.id, project_id=env.project_id, org_id=env.org_id, actor=caller.actor, caller=caller
    )


async def _env_of_key(request: AnyRequest, key: SdkCaller, env_id: UUID) -> EnvironmentScope:
    if key.environment_id != env_id:
        raise NotFound(f"environment {env_id} not found")
    env = await directory.get_environment(deps_of(request).db, env_id)
    if env is None:
        raise NotFound(f"environment {env_id} not found")
    return EnvironmentScope(
        environment_id=env.id, project_id=env.project_id, org_id=env.org_id, actor=key.actor
    )


AUTH_DEPENDENCIES: dict[str, Provide] = {
    "caller": Provide(provide_caller),
    "env_scope": Provide(provide_env_scope),
    "sdk_scope": Provide(provide_sdk_scope),
    "any_scope": Provide(provide_any_scope),
}
