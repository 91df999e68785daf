"""The embedded nats-server's configuration file: credentials, payload limit, optional TLS, no monitoring.

The bus is a trust boundary: whoever can publish on `stitchd.events.>` speaks to every consumer. So the
embedded server always requires a user and password, generated once per data directory (file mode 0600)
and handed to every process inside the NATS URL (`nats://stitchd:<password>@127.0.0.1:<port>`). It
listens on 127.0.0.1 only and runs without the HTTP monitoring port. `deploy/nats/nats-server.conf` is
the same shape for a production server.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

NATS_MAX_PAYLOAD = 2 * 1_048_576  # == commands.event_size.NATS_MAX_PAYLOAD (a unit test pins them)
NATS_USER = "stitchd"
CREDENTIALS_FILE = "credentials.json"
CONFIG_FILE = "nats-server.conf"


@dataclass(frozen=True)
class NatsCredentials:
    """The user and password every Stitchd process presents to the embedded server."""

    user: str
    password: str

    def __repr__(self) -> str:
        return f"NatsCredentials(user={self.user!r}, password='[REDACTED]')"


@dataclass(frozen=True)
class NatsTls:
    """A certificate pair for the server (PEM files); clients verify it against their trust store."""

    cert_file: Path
    key_file: Path


def credentials(store_dir: Path) -> NatsCredentials:
    """The data directory's credentials, created on first use (owner-only file)."""
    path = store_dir / CREDENTIALS_FILE
    if path.exists():
        found = json.loads(path.read_text())
        return NatsCredentials(str(found["user"]), str(found["password"]))
    made = NatsCredentials(NATS_USER, secrets.token_urlsafe(32))
    store_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"user": made.user, "password": made.password}, out)
    return made


def _quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid nats-server config string


def server_config(
    store_dir: Path, port: int, creds: NatsCredentials, *, tls: NatsTls | None = None, host: str = "127.0.0.1"
) -> str:
    """The config text: listen address, JetStream store, max_payload, authorization and TLS."""
    lines = [
        f"listen: {_quoted(f'{host}:{port}')}",
        f"max_payload: {NATS_MAX_PAYLOAD}",
        f"jetstream {{ store_dir: {_quoted(str(store_dir))} }}",
        f"authorization {{ user: {_quoted(creds.user)}, password: {_quoted(creds.password)} }}",
    ]
    if tls is not None:
        cert, key = _quoted(str(tls.cert_file)), _quoted(str(tls.key_file))
        lines.append(f"tls {{ cert_file: {cert}, key_file: {key} }}")
    return "\n".join(lines) + "\n"


def write_config(store_dir: Path, port: int, *, tls: NatsTls | None = None) -> tuple[Path, NatsCredentials]:
    """Write the server's config under `store_dir` (owner-only: it holds the password)."""
    creds = credentials(store_dir)
    path = store_dir / CONFIG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(server_config(store_dir, port, creds, tls=tls))
    return path, creds
