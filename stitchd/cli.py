"""The `stitchd` command: up, one process by name, migrate, projections rebuild, and registered tools."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TextIO

from stitchd.logging import configure_logging, redact
from stitchd.processes import PROCESSES, TOOLS
from stitchd.settings import Settings, SettingsError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; one sub-command per registered process and tool."""
    parser = argparse.ArgumentParser(prog="stitchd", description="Stitchd feature flags and experiments")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="run every process (embedded PostgreSQL, NATS and chdb unless *_URL are set)")
    for spec in PROCESSES.values():
        sub.add_parser(spec.name, help=f"{spec.help} (needs DATABASE_URL and NATS_URL)")
    sub.add_parser("migrate", help="apply pending SQL migrations")
    projections = sub.add_parser("projections", help="projection maintenance")
    actions = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser("rebuild", help="replay the event store into fresh read-model tables")
    rebuild.add_argument("name", nargs="?", help="one projection (default: all)")
    for tool in TOOLS.values():
        tool_parser = sub.add_parser(tool.name, help=tool.help)
        tool_parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `stitchd` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _fail(exc)
    configure_logging(settings)
    from stitchd import up

    if args.command == "up":
        return up.main()
    if args.command in PROCESSES:
        return up.main([args.command])
    if args.command in TOOLS:
        return TOOLS[args.command].load()(list(args.args))
    if args.command == "migrate":
        return _guarded(_migrate, settings)
    return _guarded(_rebuild, settings, args.name)


def _fail(exc: BaseException) -> int:
    print(f"stitchd: {redact(str(exc))}", file=sys.stderr, flush=True)
    return 1


def _guarded(func: Callable[..., Coroutine[Any, Any, int]], settings: Settings, *args: object) -> int:
    """Run a maintenance command; operator-fixable errors become one line and exit code 1."""
    import psycopg

    from projections.registry import UnknownProjectionError
    from stitchd.embedded import EmbeddedStartError

    try:
        return asyncio.run(func(settings, *args))
    except (EmbeddedStartError, SettingsError, UnknownProjectionError, psycopg.OperationalError) as exc:
        return _fail(exc)


async def _migrate(settings: Settings) -> int:
    from stitchd.migrate import migrate
    from stitchd.up import database_url

    applied = await migrate(database_url(settings))
    print(f"stitchd: applied {', '.join(applied)}" if applied else "stitchd: migrations up to date")
    return 0


async def _rebuild(settings: Settings, name: str | None) -> int:
    from projections.rebuild import rebuild
    from projections.registry import PROJECTIONS, by_name
    from stitchd.migrate import migrate
    from stitchd.up import database_url

    chosen = PROJECTIONS if name is None else [by_name(name)]
    url = database_url(settings)
    await migrate(url)
    for projection in chosen:
        last = await rebuild(url, projection, progress=ProgressBar(projection.NAME))
        print(f"stitchd: rebuilt {projection.NAME} up to position {last}")
    return 0


class ProgressBar:
    """A one-line text progress bar on stderr: `name [#####.....]  50%  500/1000 events`."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width

    def __call__(self, done: int, total: int) -> None:
        filled = self.width if total == 0 else self.width * done // total
        percent = 100 if total == 0 else 100 * done // total
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}%  {done}/{total} events{end}")
        self.stream.flush()
