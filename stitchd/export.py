"""`stitchd export --environment <env id | project/env> [--output FILE]`: an environment's definitions
document (schemas/definitions_document.py), for SDK offline mode and bootstrapping (docs/sdk.md).

The document is made by the function that answers `GET /v1/environments/{env}/definitions`
(gateway.definitions_source): the environment's events folded as the SDK sync folds them, so the file is
that route's answer at the same sequence (indented), and an SDK bootstraps from either.
It needs DATABASE_URL (or the embedded PostgreSQL of `stitchd up`); nothing else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from gateway.definitions_source import definitions_document
from schemas.definitions_document import encode
from schemas.http_types import INT64_MAX
from stitchd.settings import Settings

_BY_ID = "SELECT id, project_id FROM rm_environments WHERE id = %(env)s"
_BY_NAME = (
    "SELECT e.id, e.project_id FROM rm_environments e JOIN rm_projects p ON p.id = e.project_id"
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


async def export(database_url: str, environment: str, *, position: int = INT64_MAX) -> bytes:
    """The definitions document of `environment` (an id, or project/environment by id or name) as of
    store `position` (default: now)."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    try:
        env_id, project_id = await resolve_environment(pool, environment)
        document = await definitions_document(
            pool, environment_id=env_id, project_id=project_id, position=position
        )
    finally:
        await pool.close()
    return encode(document)


async def resolve_environment(pool: AsyncConnectionPool[Any], environment: str) -> tuple[UUID, UUID]:
    """The (environment, project) an id names, or that `project/environment` names (ids or names)."""
    project, sep, env = environment.partition("/")
    if not sep:
        try:
            UUID(environment)
        except ValueError:
            raise ExportError("--environment takes an environment id or <project>/<environment>") from None
    query, params = (_BY_NAME, {"project": project, "env": env}) if sep else (_BY_ID, {"env": environment})
    async with pool.connection() as conn:
        rows = await (await conn.execute(query, params)).fetchall()
    if not rows:
        raise ExportError(
            f"environment {environment} not found"
            if not sep
            else f"no environment {env!r} in a project {project!r}"
        )
    if len(rows) > 1:
        raise ExportError(f"{environment!r} names {len(rows)} environments; give the environment id")
    found: tuple[UUID, UUID] = (rows[0][0], rows[0][1])
    return found
