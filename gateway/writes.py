"""Shared plumbing of the flag, segment, event-definition and experiment routes: scope, command ids."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol, TypeVar
from uuid import UUID, uuid4, uuid5

import msgspec
from litestar.params import HeaderParameter

from commands.streams import Scope
from gateway.auth.guards import EnvironmentScope
from gateway.errors import InvalidArgument
from gateway.idempotency import bind_key
from readmodels.db import ReadDb

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200

V = TypeVar("V", bound=msgspec.Struct)

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name=IDEMPOTENCY_HEADER,
        required=False,
        description="Repeat-safe create: same key, same result (1-200 characters, not blank)",
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        pattern=r"\S",
    ),
]


def write_scope(env: EnvironmentScope) -> Scope:
    """The metadata scope of a write made through an environment route."""
    return Scope(
        actor=env.actor, org_id=env.org_id, project_id=env.project_id, environment_id=env.environment_id
    )


async def command_id(
    env: EnvironmentScope, kind: str, idempotency_key: str | None, *, body: object, db: ReadDb
) -> UUID:
    """uuid5 of the client's Idempotency-Key scoped by organisation and route kind, bound to `body` (the
    same key with another body answers 422, gateway.idempotency); else a fresh uuid4."""
    if idempotency_key is None:
        return uuid4()
    command = uuid5(env.org_id, f"{kind}:{env.environment_id}:{checked_key(idempotency_key)}")
    await bind_key(db, command, body)
    return command


def checked_key(idempotency_key: str) -> str:
    """The client's Idempotency-Key without surrounding blanks: 1-200 characters, else INVALID_ARGUMENT."""
    key = idempotency_key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidArgument(f"{IDEMPOTENCY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY} characters")
    return key


class StampedRow(Protocol):
    """A read-model row with its store position and its creation and last-change times."""

    @property
    def position(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def with_stamps(view: V, row: StampedRow | None, position: int) -> V:
    """The view after a write with its row's created_at/updated_at, once that row has applied `position`.

    Read after `deps.settle`: when the read model lags behind (bounded wait ran out) the times stay unset
    rather than show an older state's.
    """
    if row is None or row.position < position:
        return view
    return msgspec.structs.replace(view, created_at=row.created_at, updated_at=row.updated_at)
