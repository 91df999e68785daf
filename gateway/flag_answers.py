"""What the flag routes share: the changeset of an environment route and the flag answered after it."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from commands.bus import Outcome
from commands.flags import ExpectFlagConfig
from commands.streams import Scope
from domain.events import Command
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from gateway import flag_views as views
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.writes import with_stamps
from readmodels import flags as rm
from schemas.http_flags import FlagView


def expect(scope: Scope, key: str, version: int | None, command_id: UUID) -> ExpectFlagConfig:
    """The first step of every flag route's changeset: the flag exists, its config here at `version`."""
    return ExpectFlagConfig(
        command_id=command_id, project_id=scope.project_id, environment_id=scope.environment_id,
        key=key, expected_version=version,
    )  # fmt: skip


async def change(
    deps: GatewayDeps, scope: Scope, key: str, version: int | None, commands: Sequence[Command],
    *, command_id: UUID,
) -> FlagView:  # fmt: skip
    """Send `commands` as one changeset behind the version check; the answer is the flag after it."""
    steps = [expect(scope, key, version, command_id), *commands]
    outcome = await deps.bus.handle_changeset(steps, scope, command_id=command_id)
    return await answer(deps, scope, key, outcome)


async def answer(deps: GatewayDeps, scope: Scope, key: str, outcome: Outcome) -> FlagView:
    """The flag as the changeset left it; waits for the read models to catch up."""
    flag = outcome.state(dfn.flag_stream(scope.project_id, key))
    if not isinstance(flag, dfn.Flag) or flag.deleted:
        raise NotFound(f"flag {key!r} not found")
    config = outcome.state(cfg.flag_config_stream(scope.environment_id, key))
    definition = cfg.definition_of(flag, config, scope.environment_id)
    position = await deps.settle(outcome.position)
    view = views.flag_view(definition, flag, position=position)
    row = await rm.flag_in_environment(
        deps.db, project_id=scope.project_id, environment_id=scope.environment_id, key=key
    )
    return with_stamps(view, row, position)


def row_view(row: rm.FlagRow) -> FlagView:
    return views.flag_view(
        row.definition,
        row.flag,
        position=row.position,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
