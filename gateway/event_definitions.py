"""/v1/environments/{env_id}/event-definitions: metric keys an environment accepts, and their types.

`version` is the definition stream's version; a value type is permanent (changing it is refused).
"""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands.event_definitions import EventDefinitionCommand, handle_event_definition, load_event_definition
from commands.streams import Scope, Written
from domain.event_definitions.commands import (
    CreateEventDefinition,
    DeleteEventDefinition,
    UpdateEventDefinition,
)
from domain.event_definitions.events import MetricValueType
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader, tenant_writer
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.query import VersionQuery
from gateway.writes import IdempotencyKey, command_id, with_stamps, write_scope
from readmodels import event_definitions as rm
from readmodels import experiments as rm_experiments
from schemas.http_event_definitions import (
    CreateEventDefinitionBody,
    DeletedEventDefinition,
    EventDefinitionList,
    EventDefinitionView,
    UpdateEventDefinitionBody,
)


async def _send(deps: GatewayDeps, cmd: EventDefinitionCommand, scope: Scope) -> Written:
    async def measured_by(environment_id: UUID, key: str) -> frozenset[str]:
        names = await rm_experiments.experiments_measuring(
            deps.db, environment_id=environment_id, metric_key=key
        )
        return frozenset(names)

    return await handle_event_definition(
        cmd, scope, store=deps.store, clock=deps.clock, measured_by=measured_by
    )


async def _answer(deps: GatewayDeps, scope: Scope, key: str, written: Written) -> EventDefinitionView:
    state = await load_event_definition(deps.store, scope.environment_id, key)
    if state is None or state.deleted:
        raise NotFound(f"event definition {key!r} not found")
    await deps.settle(written.position)
    view = EventDefinitionView(
        key=state.key,
        description=state.description,
        value_type=state.value_type.value,
        environment_id=state.environment_id,
        version=state.version,
        position=written.position,
    )
    row = await rm.event_definition(deps.db, environment_id=scope.environment_id, key=key)
    return with_stamps(view, row, written.position)


def _row_view(r: rm.EventDefinitionRow) -> EventDefinitionView:
    return EventDefinitionView(
        key=r.key,
        description=r.description,
        value_type=r.value_type,  # type: ignore[arg-type]
        environment_id=r.environment_id,
        version=r.version,
        position=r.position,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


class EventDefinitionController(Controller):
    path = "/v1/environments/{env_id:uuid}/event-definitions"
    tags = ["event-definitions"]
    security = BEARER

    @get("/", guards=[tenant_reader])
    async def list_definitions(
        self, env_scope: NamedDependency[EnvironmentScope], deps: NamedDependency[GatewayDeps]
    ) -> EventDefinitionList:
        """Every event definition of the environment, by key."""
        rows = await rm.event_definitions(deps.db, environment_id=env_scope.environment_id)
        return EventDefinitionList(event_definitions=[_row_view(r) for r in rows])

    @post("/", guards=[tenant_writer])
    async def create_definition(
        self,
        data: JSONBody[CreateEventDefinitionBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> EventDefinitionView:
        """Register a metric key with its value type (bool, int or double)."""
        scope = write_scope(env_scope)
        cmd = CreateEventDefinition(
            command_id=await command_id(
                env_scope, "event_definition.create", idempotency_key, body=data, db=deps.db
            ),
            environment_id=scope.environment_id,
            key=data.key,
            value_type=MetricValueType(data.value_type),
            description=data.description,
        )
        return await _answer(deps, scope, data.key, await _send(deps, cmd, scope))

    @get("/{key:str}", guards=[tenant_reader])
    async def get_definition(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> EventDefinitionView:
        """One event definition."""
        row = await rm.event_definition(deps.db, environment_id=env_scope.environment_id, key=key)
        if row is None:
            raise NotFound(f"event definition {key!r} not found")
        return _row_view(row)

    @put("/{key:str}", guards=[tenant_writer])
    async def update_definition(
        self,
        key: FromPath[str],
        data: JSONBody[UpdateEventDefinitionBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> EventDefinitionView:
        """Change the description (a different value_type is refused)."""
        scope = write_scope(env_scope)
        current = await load_event_definition(deps.store, scope.environment_id, key)
        description = (
            data.description if data.description is not None else (current.description if current else "")
        )
        cmd = UpdateEventDefinition(
            command_id=uuid4(),
            environment_id=scope.environment_id,
            key=key,
            description=description,
            value_type=MetricValueType(data.value_type) if data.value_type else None,
            expected_version=data.version,
        )
        return await _answer(deps, scope, key, await _send(deps, cmd, scope))

    @delete("/{key:str}", guards=[tenant_writer], status_code=200)
    async def delete_definition(
        self,
        key: FromPath[str],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        version: VersionQuery,
    ) -> DeletedEventDefinition:
        """Delete; refused while an active or paused experiment measures the key."""
        scope = write_scope(env_scope)
        cmd = DeleteEventDefinition(
            command_id=uuid4(), environment_id=scope.environment_id, key=key, expected_version=version
        )
        written = await _send(deps, cmd, scope)
        return DeletedEventDefinition(key=key, deleted=True, position=await deps.settle(written.position))
