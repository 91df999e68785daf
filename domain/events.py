"""The base shape of every persisted fact and every command."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """A persisted fact. Only ever add fields, each with a default; never rename or retype."""

    stream_id: UUID
    version: int  # 1-based position in its stream; (stream_id, version) is unique
    occurred_at: datetime


class Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """An intent; `command_id` is the idempotency key (a client's Idempotency-Key where sent)."""

    command_id: UUID
