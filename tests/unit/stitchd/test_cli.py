"""The `stitchd` command line, the process registry and `serve` supervision (no services needed)."""

from __future__ import annotations

import asyncio
import io

import pytest

from stitchd import cli
from stitchd.processes import PROCESSES, TOOLS, ProcessExitedError, ProcessSpec, Resources, running, serve
from stitchd.settings import Settings, SettingsError
from stitchd.up import _require_urls

RESOURCES = Resources("postgresql://db", "nats://bus", "chdb:///tmp/x")
STARTED: list[str] = []


async def forever(settings: Settings, resources: Resources) -> None:
    STARTED.append("forever")
    await asyncio.Event().wait()


async def crash(settings: Settings, resources: Resources) -> None:
    raise RuntimeError("boom")


async def finish(settings: Settings, resources: Resources) -> None:
    return None


@pytest.fixture
def fake_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("forever", "crash", "finish"):
        monkeypatch.setitem(PROCESSES, name, ProcessSpec(name, name, f"{__name__}:{name}"))


def test_every_registered_target_resolves_to_a_callable() -> None:
    for process in PROCESSES.values():
        assert callable(process.load()), process.name
    for tool in TOOLS.values():
        assert callable(tool.load()), tool.name


def test_the_parser_has_the_fixed_commands_and_one_per_process_and_tool() -> None:
    parser = cli.build_parser()
    for argv in (["up"], ["migrate"], ["projections", "rebuild"], ["projections", "rebuild", "directory"]):
        assert parser.parse_args(argv).command == argv[0]
    for name in [*PROCESSES, *TOOLS]:
        assert parser.parse_args([name]).command == name
    assert parser.parse_args(["projections", "rebuild", "directory"]).name == "directory"


def test_an_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["nope"])
    assert exit_info.value.code == 2


def test_a_bad_setting_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HTTP_PORT", "eighty")
    assert cli.main(["migrate"]) == 1
    assert capsys.readouterr().err == "stitchd: HTTP_PORT must be a port number, got 'eighty'\n"


def test_a_single_process_needs_external_servers() -> None:
    with pytest.raises(SettingsError, match="needs DATABASE_URL and NATS_URL"):
        _require_urls(Settings(), ["relay"])
    _require_urls(Settings(database_url="postgresql://db", nats_url="nats://bus"), ["relay"])


@pytest.mark.parametrize(("raw", "port"), [(None, 4222), ("4333", 4333), ("0", 0)])
def test_embedded_nats_port(raw: str | None, port: int) -> None:
    assert Settings.from_env({} if raw is None else {"STITCHD_NATS_PORT": raw}).nats_port == port


@pytest.mark.parametrize("raw", ["x", "-1", "70000"])
def test_a_bad_embedded_nats_port_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="STITCHD_NATS_PORT"):
        Settings.from_env({"STITCHD_NATS_PORT": raw})


def test_the_progress_bar_fills_and_ends_the_line() -> None:
    out = io.StringIO()
    bar = cli.ProgressBar("directory", out, width=10)
    bar(0, 4)
    bar(2, 4)
    bar(4, 4)
    lines = out.getvalue().split("\r")[1:]
    assert lines[0] == "directory [..........]   0%  0/4 events"
    assert lines[1] == "directory [#####.....]  50%  2/4 events"
    assert lines[2] == "directory [##########] 100%  4/4 events\n"


def test_an_empty_replay_still_draws_a_full_bar() -> None:
    out = io.StringIO()
    cli.ProgressBar("x", out, width=4)(0, 0)
    assert out.getvalue() == "\rx [####] 100%  0/0 events\n"


@pytest.mark.usefixtures("fake_processes")
async def test_serve_runs_processes_until_stopped() -> None:
    STARTED.clear()
    async with running(["forever"], Settings(), RESOURCES):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert STARTED == ["forever"]


@pytest.mark.usefixtures("fake_processes")
async def test_a_crashing_process_stops_the_others_and_is_reported() -> None:
    with pytest.raises(ProcessExitedError, match="process crash stopped: boom"):
        await serve(["forever", "crash"], Settings(), RESOURCES, asyncio.Event())


@pytest.mark.usefixtures("fake_processes")
async def test_a_process_that_returns_unasked_is_reported() -> None:
    with pytest.raises(ProcessExitedError, match="process finish stopped: it returned"):
        await serve(["forever", "finish"], Settings(), RESOURCES, asyncio.Event())
