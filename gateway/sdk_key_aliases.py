"""The seed deployment guide's SDK-key routes, served as aliases of /v1/management's (same handlers,
same guards): `POST/GET /api/v1/environments/{environment_id}/sdk-keys`, `DELETE /api/v1/sdk-keys/{key_id}`.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete
from litestar.di import NamedDependency
from litestar.params import FromPath

from gateway.auth.guards import BEARER, org_admin
from gateway.auth.principals import Caller
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.tenancy import SdkKeyController
from readmodels import identity
from schemas.http_identity import SdkKeyReply


class SdkKeyAliasController(SdkKeyController):
    """Issue and list, under the guide's path; revoking goes through `SdkKeyRevokeAlias`."""

    path = "/api/v1/environments/{environment_id:uuid}/sdk-keys"
    tags = ["management"]
    revoke = None  # type: ignore[assignment]  # the guide revokes by key id alone


class SdkKeyRevokeAlias(Controller):
    path = "/api/v1/sdk-keys"
    tags = ["management"]
    security = BEARER

    @delete("/{key_id:uuid}", guards=[org_admin], status_code=200)
    async def revoke_by_id(
        self, key_id: FromPath[UUID], caller: NamedDependency[Caller], deps: NamedDependency[GatewayDeps]
    ) -> SdkKeyReply:
        """Revoke a key of the caller's organisation (another's is 404): the management route's revoke."""
        row = await identity.sdk_key(deps.db, key_id)
        if row is None or row.org_id != caller.org_id:
            raise NotFound(f"SDK key {key_id} not found")
        revoke = SdkKeyController.revoke.fn
        reply: SdkKeyReply = await revoke(
            self, environment_id=row.environment_id, key_id=key_id, caller=caller, deps=deps
        )
        return reply
