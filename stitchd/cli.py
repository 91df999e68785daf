"""The `stitchd` command: up, one process by name, migrate, projections rebuild, dlq list|replay, and
registered tools."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from stitchd.logging import configure_logging, redact
from stitchd.processes import PROCESSES, TOOLS
from stitchd.settings import Settings, SettingsError
from telemetry.nats_urls import nats_servers

if TYPE_CHECKING:  # imported when used, so `stitchd --help` stays light
    from nats.js import JetStreamContext

    from schemas.dead_letters import DeadLetter


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; one sub-command per registered process and tool."""
    parser = argparse.ArgumentParser(prog="stitchd", description="Stitchd feature flags and experiments")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="run every process (embedded PostgreSQL, NATS, chdb unless *_URL are set)")
    up.add_argument(
        "--nats-cluster", type=int, metavar="N", help="N local NATS nodes (a cluster); every process its own"
    )
    up.add_argument(
        "--replicas", type=int, metavar="R", help="R gateways, broadcasters and relays, each its own process"
    )
    for spec in PROCESSES.values():
        sub.add_parser(spec.name, help=f"{spec.help} (needs DATABASE_URL and NATS_URL)")
    sub.add_parser("migrate", help="apply pending SQL migrations")
    projections = sub.add_parser("projections", help="projection maintenance")
    actions = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser("rebuild", help="replay the event store into fresh read-model tables")
    rebuild.add_argument("name", nargs="?", help="one projection (default: all)")
    _add_dlq(sub)
    for tool in TOOLS.values():
        tool_parser = sub.add_parser(tool.name, help=tool.help)
        tool_parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _add_dlq(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="dead letters (STITCHD_DLQ): list and replay")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="show dead letters: id, time, consumer, subject, reason")
    listing.add_argument("--consumer", help="only this consumer's (e.g. stats-worker, proj_flags)")
    replaying = actions.add_parser("replay", help="republish dead letters (re-apply a projection's event)")
    which = replaying.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", dest="ids", help="a dead letter's id (repeatable)")
    which.add_argument("--all", action="store_true", help="every dead letter (of --consumer, if given)")
    replaying.add_argument("--consumer", help="only this consumer's")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `stitchd` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _fail(exc)
    configure_logging(settings)
    from stitchd import up

    if args.command == "up" and (args.nats_cluster or args.replicas):
        return _topology(settings, args.nats_cluster or 1, args.replicas or 1)
    if args.command == "up":
        return up.main()
    if args.command in PROCESSES:
        return up.main([args.command])
    if args.command in TOOLS:
        return TOOLS[args.command].load()(list(args.args))
    if args.command == "migrate":
        return _guarded(_migrate, settings)
    if args.command == "dlq":
        return _guarded(_dlq, settings, args)
    return _guarded(_rebuild, settings, args.name)


def _topology(settings: Settings, nodes: int, replicas: int) -> int:
    from stitchd.embedded import EmbeddedStartError
    from stitchd.supervisor import run_topology
    from stitchd.topology import Topology
    from stitchd.up import StartError

    try:
        return run_topology(settings, Topology(nodes, replicas), sys.stdout)
    except (ValueError, EmbeddedStartError, StartError) as exc:
        return _fail(exc)


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


@contextlib.asynccontextmanager
async def _nats_url(settings: Settings) -> AsyncIterator[str]:
    """NATS_URL, else the embedded nats-server: the running one on STITCHD_NATS_PORT, or started for
    the command on the data directory (so dead letters can be read while the stack is down)."""
    from stitchd.embedded import port_in_use, start_nats

    if settings.nats_url:
        yield settings.nats_url
    elif port_in_use(settings.nats_port):
        yield f"nats://127.0.0.1:{settings.nats_port}"
    else:
        proc = start_nats(settings.data_dir.resolve() / "nats", settings.nats_port)
        try:
            yield proc.url
        finally:
            proc.stop()


async def _dlq(settings: Settings, args: argparse.Namespace) -> int:
    import nats
    import nats.errors

    from stitchd import dlq

    async with _nats_url(settings) as url:
        try:
            nc = await nats.connect(nats_servers(url), connect_timeout=5, max_reconnect_attempts=1)
        except (OSError, nats.errors.Error) as exc:
            return _fail(RuntimeError(f"NATS at {url} is unreachable: {exc}"))
        try:
            letters = await dlq.dead_letters(nc.jetstream(), args.consumer)
            if args.action == "list":
                for letter, _ in letters:
                    print(redact(dlq.describe(letter)))
                print(f"stitchd: {len(letters)} dead letter(s)")
                return 0
            return await _replay(
                nc.jetstream(), dlq.chosen(letters, None if args.all else args.ids), settings
            )
        finally:
            await nc.close()


async def _replay(js: JetStreamContext, letters: list[tuple[DeadLetter, bytes]], settings: Settings) -> int:
    from stitchd import dlq
    from stitchd.up import database_url

    failed = 0
    db: str | None = None
    for letter, data in letters:
        try:
            if letter.stream == dlq.STORE and db is None:
                db = database_url(settings)
            await dlq.replay(js, letter, data, db)
        except Exception as exc:  # reported per letter; the letter stays in STITCHD_DLQ
            failed += 1
            print(f"stitchd: dead letter {letter.id} not replayed: {redact(str(exc))}", file=sys.stderr)
        else:
            print(f"stitchd: replayed dead letter {letter.id} ({letter.consumer} {letter.subject})")
    print(f"stitchd: {len(letters) - failed} of {len(letters)} replayed")
    return 1 if failed else 0


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
