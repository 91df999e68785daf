"""GET /v1/environments/{env_id}/definitions (now, or as of a sequence or a time) and their diff.

The document (schemas/definitions_document.py, built by gateway.definitions_source) is what an SDK of
the environment held at that point: every flag with the segments it references, folded from the event
log as the sync does. It is byte for byte what `stitchd export` writes (bar indentation), and an SDK
bootstraps from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader
from gateway.definitions_source import definitions_document
from gateway.deps import GatewayDeps
from gateway.query import PositionQuery
from readmodels import history
from readmodels.definitions_document import (
    DefinitionsDiff,
    DefinitionsDocument,
    definitions_as_of,
    diff_documents,
)
from schemas import definitions_document as document_format
from schemas.http_types import INT64_MAX

From = Annotated[
    int,
    QueryParameter(name="from", ge=0, le=INT64_MAX, description="Sequence A (default 0: before anything)."),
]
To = Annotated[int | None, QueryParameter(ge=0, le=INT64_MAX, description="Sequence B (default: now).")]


async def _bound(deps: GatewayDeps, sequence: int | None, at: datetime | None) -> int:
    """The last position at or before both bounds given (neither: the latest)."""
    bound = INT64_MAX if sequence is None else sequence
    return bound if at is None else min(bound, await history.position_at(deps.db, at))


async def document(deps: GatewayDeps, env: EnvironmentScope, position: int) -> DefinitionsDocument:
    return await definitions_as_of(
        deps.db, environment_id=env.environment_id, project_id=env.project_id, position=position
    )


class DefinitionsController(Controller):
    path = "/v1/environments/{env_id:uuid}/definitions"
    tags = ["history"]
    security = BEARER
    guards = [tenant_reader]

    @get("/")
    async def definitions(
        self,
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        as_of_sequence: PositionQuery = None,
        as_of: FromQuery[datetime | None] = None,
    ) -> document_format.DefinitionsDocument:
        """The environment's whole definition as its SDKs had it at `as_of_sequence` / `as_of` (else now)."""
        position = await _bound(deps, as_of_sequence, as_of)
        return await definitions_document(
            deps.db,
            environment_id=env_scope.environment_id,
            project_id=env_scope.project_id,
            position=position,
        )

    @get("/diff")
    async def diff(
        self,
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        from_: From = 0,
        to: To = None,
    ) -> DefinitionsDiff:
        """What changed from sequence `from` to sequence `to`, per flag or segment and field."""
        before = await document(deps, env_scope, from_)
        return diff_documents(before, await document(deps, env_scope, INT64_MAX if to is None else to))
