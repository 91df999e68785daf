"""Who is calling: a human with a verified JWT (Caller) or an SDK key (SdkCaller), once per request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar.connection import ASGIConnection

from domain.tenancy.events import OrgRole
from domain.tenancy.org import SYSTEM_ORG_ID
from domain.tenancy.sdk_keys import SDK_KEY_PREFIX, hash_sdk_key
from gateway.auth.tokens import decode_access_token
from gateway.deps import GatewayDeps
from gateway.errors import SSO_REQUIRED_MESSAGE, SsoRequired, Unauthenticated
from readmodels import identity

SDK_KEY_HEADER = "x-sdk-key"
_CALLER = "stitchd_caller"
_SDK = "stitchd_sdk_caller"
MAX_CREDENTIAL_LENGTH = 4096


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """A human acting in one organisation with one role (roles are re-read on every request)."""

    user_id: UUID
    org_id: UUID
    role: str
    session_id: UUID | None = None  # the login session of the token
    bound_org_id: UUID | None = None  # an SSO session: acts in this organisation only (issue 13)

    @property
    def actor(self) -> str:
        """The event metadata actor."""
        return str(self.user_id)

    @property
    def is_system(self) -> bool:
        """Acting in the platform's system organisation."""
        return self.org_id == SYSTEM_ORG_ID

    @property
    def is_admin(self) -> bool:
        return self.role == OrgRole.ORG_ADMIN

    @property
    def can_write(self) -> bool:
        """Admins and members change things; viewers only read."""
        return self.role in (OrgRole.ORG_ADMIN, OrgRole.ORG_MEMBER)


class SdkCaller(msgspec.Struct, frozen=True, kw_only=True):
    """An SDK key: reads exactly one environment."""

    key_id: UUID
    environment_id: UUID
    project_id: UUID | None
    org_id: UUID | None

    @property
    def actor(self) -> str:
        return f"sdk_key:{self.key_id}"


def deps_of(connection: ASGIConnection[Any, Any, Any, Any]) -> GatewayDeps:
    """The app's collaborators (create_app stores them in app state)."""
    deps = connection.app.state["deps"]
    assert isinstance(deps, GatewayDeps)
    return deps


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The verified human caller; Unauthenticated when missing, invalid, expired or revoked."""
    cached = connection.scope.get("state", {}).get(_CALLER)
    if isinstance(cached, Caller):
        return cached
    token = bearer_token(connection)
    if token is None:
        raise Unauthenticated("missing bearer token")
    caller = await caller_from_token(deps_of(connection), token)
    connection.scope.setdefault("state", {})[_CALLER] = caller
    return caller


async def caller_from_token(deps: GatewayDeps, token: str) -> Caller:
    """Claims checked against the read model and the vault: live user, current token generation, still a
    member, and its login session neither revoked (refresh-token reuse) nor past its absolute end."""
    now = deps.clock()
    claims = decode_access_token(deps.tokens, token, now=now)
    subject = await identity.token_subject(deps.db, claims.sub, claims.org, session_id=claims.sid, now=now)
    if subject is None or subject.token_generation != claims.cv or not subject.session_live:
        raise Unauthenticated("token revoked")
    if subject.bound_org_id is not None and subject.bound_org_id != claims.org:
        raise Unauthenticated("token revoked")
    if subject.sso_required and subject.bound_org_id != claims.org:
        raise SsoRequired(SSO_REQUIRED_MESSAGE)
    return Caller(
        user_id=claims.sub, org_id=claims.org, role=subject.role, session_id=claims.sid,
        bound_org_id=subject.bound_org_id,
    )  # fmt: skip


async def authenticate_sdk_key(connection: ASGIConnection[Any, Any, Any, Any]) -> SdkCaller:
    """The environment an `x-sdk-key` header unlocks; Unauthenticated when missing, unknown or revoked."""
    cached = connection.scope.get("state", {}).get(_SDK)
    if isinstance(cached, SdkCaller):
        return cached
    raw = connection.headers.get(SDK_KEY_HEADER)
    if raw is None:
        raise Unauthenticated("missing x-sdk-key header")
    raw = raw.strip()
    if not raw.startswith(SDK_KEY_PREFIX) or len(raw) > MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated("sdk key not found")
    row = await identity.sdk_key_by_hash(deps_of(connection).db, hash_sdk_key(raw))
    if row is None:
        raise Unauthenticated("sdk key not found")
    caller = SdkCaller(
        key_id=row.key_id, environment_id=row.environment_id, project_id=row.project_id, org_id=row.org_id
    )
    connection.scope.setdefault("state", {})[_SDK] = caller
    return caller


def is_authenticated(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether this request already proved a bearer token or an SDK key (cached by a guard)."""
    state = connection.scope.get("state", {})
    return isinstance(state.get(_CALLER), Caller) or isinstance(state.get(_SDK), SdkCaller)
