"""Plain SQL migrations applied in file-name order, recorded, safe to rerun and to race."""

from __future__ import annotations

from importlib import resources

import psycopg

MIGRATIONS_PACKAGE = "stitchd.migrations"
_LOCK_KEY = 0x5717C4D0  # advisory lock serialising concurrent migrators


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration, in order."""
    root = resources.files(MIGRATIONS_PACKAGE)
    files = sorted((p.name, p.read_text()) for p in root.iterdir() if p.name.endswith(".sql"))
    return files


async def migrate(database_url: str) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    applied: list[str] = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT name FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for name, sql in migration_files():
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql.encode())
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
