"""`stitchd export --environment <env id | project/env> [--output FILE]`: an environment's definitions
document (schemas/definitions_document.py), for SDK offline mode and bootstrapping (docs/sdk.md).

The document is built exactly as the broadcaster builds an SDK's snapshot: the event store folded
into a DefinitionsCache, its snapshot of the environment as a SyncResponse (sync_broadcaster.wire).
It needs DATABASE_URL (or the embedded PostgreSQL of `stitchd up`); nothing else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from readmodels.definitions import DefinitionsCache
from readmodels.definitions_log import PostgresEventLog
from schemas.definitions_document import encode_document
from stitchd.settings import Settings
from sync_broadcaster.wire import snapshot_message

_BY_NAME = (
    "SELECT e.id FROM rm_environments e JOIN rm_projects p ON p.id = e.project_id"
    " WHERE (p.id::text = %(project)s OR p.name = %(project)s) AND (e.id::text = %(env)s OR e.name = %(env)s)"
)


class ExportError(Exception):
    """An operator-fixable problem: one line on stderr, exit code 1."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stitchd export", description="write an environment's definitions")
    parser.add_argument("--environment", required=True, help="an environment id, or <project>/<environment>")
    parser.add_argument("--output", type=Path, help="write this file (atomically) instead of stdout")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """The tool's entry point."""
    args = parse_args(argv)
    from stitchd.up import database_url

    try:
        data = asyncio.run(export(database_url(Settings.from_env()), args.environment))
    except ExportError as exc:
        sys.stderr.write(f"stitchd export: {exc}\n")
        return 1
    if args.output is None:
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.flush()
    else:
        from stitchd_sdk.persist import write_atomically

        write_atomically(args.output, data + b"\n")
    return 0


async def export(database_url: str, environment: str) -> bytes:
    """The definitions document of `environment` (an id, or project/environment by id or name)."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    try:
        env_id = await resolve_environment(pool, environment)
        cache = DefinitionsCache()
        await cache.catch_up(PostgresEventLog(pool))
    finally:
        await pool.close()
    snapshot = cache.snapshot(env_id)
    if snapshot is None:
        raise ExportError(f"environment {env_id} not found")
    now_ms = time.time_ns() // 1_000_000
    return encode_document(snapshot_message(snapshot, now_ms), written_at_ms=now_ms)


async def resolve_environment(pool: AsyncConnectionPool[Any], environment: str) -> UUID:
    """The environment an id names, or the one `project/environment` names (each an id or a name)."""
    project, sep, env = environment.partition("/")
    if not sep:
        try:
            return UUID(environment)
        except ValueError:
            raise ExportError("--environment takes an environment id or <project>/<environment>") from None
    async with pool.connection() as conn:
        rows = await (await conn.execute(_BY_NAME, {"project": project, "env": env})).fetchall()
    if not rows:
        raise ExportError(f"no environment {env!r} in a project {project!r}")
    if len(rows) > 1:
        raise ExportError(f"{environment!r} names {len(rows)} environments; give the environment id")
    found: UUID = rows[0][0]
    return found
