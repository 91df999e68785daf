"""Shared plumbing of the flag, segment, event-definition and experiment routes: scope, command ids."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4, uuid5

from litestar.params import HeaderParameter

from commands.streams import Scope
from gateway.auth.guards import EnvironmentScope
from gateway.errors import InvalidArgument

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name=IDEMPOTENCY_HEADER, required=False, description="Repeat-safe create: same key, same result"
    ),
]


def write_scope(env: EnvironmentScope) -> Scope:
    """The metadata scope of a write made through an environment route."""
    return Scope(
        actor=env.actor, org_id=env.org_id, project_id=env.project_id, environment_id=env.environment_id
    )


def command_id(env: EnvironmentScope, kind: str, idempotency_key: str | None) -> UUID:
    """uuid5 of the client's Idempotency-Key scoped by organisation and route kind; else a fresh uuid4."""
    if idempotency_key is None:
        return uuid4()
    key = idempotency_key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidArgument(f"{IDEMPOTENCY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY} characters")
    return uuid5(env.org_id, f"{kind}:{env.environment_id}:{key}")
