"""The check before a release: the README's two commands in a clone of HEAD with nothing beside it.

1. `git clone` HEAD into an empty temporary directory (no `../shared/`, no `.venv`, no caches of ours).
2. `./just up` there, on free ports: wait for `/healthz` to answer 200, then stop it with SIGTERM to its
   process group (as a terminal's Ctrl-C does) and expect a clean exit.
3. `./just test` there: it must pass.

    python tools/fresh_clone_test.py [--keep] [--skip-tests]

Exit status 0 only when all of that held. `--keep` leaves the clone for a look afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 600.0  # the first `./just up` installs the locked dependencies too


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "NATS_URL", "CLICKHOUSE_URL"}}
    env.update(
        STITCHD_DATA_DIR=str(data_dir),
        HTTP_PORT=str(_free_port()),
        GRPC_PORT=str(_free_port()),
        STITCHD_NATS_PORT=str(_free_port()),
    )
    return env


def run_up(clone: Path) -> None:
    """`./just up` serves /healthz, then stops cleanly on SIGTERM to its process group."""
    env = _clean_env(clone / ".stitchd-rehearsal")
    url = f"http://127.0.0.1:{env['HTTP_PORT']}/healthz"
    log = clone / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["./just", "up"], cwd=clone, env=env, stdout=out, stderr=out, start_new_session=True
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"./just up did not serve {url}; its output:\n{log.read_text()[-4000:]}")
                time.sleep(1)
            print(f"fresh clone: ./just up served {url}", flush=True)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            code = proc.wait(timeout=60)
    # just itself reports the signal (exit 143); what matters is that Stitchd stopped in order.
    stopped = "stitchd: stopped" in log.read_text()
    if code not in (0, 128 + signal.SIGTERM) or not stopped:
        raise SystemExit(f"./just up exited {code} after SIGTERM; its output:\n{log.read_text()[-4000:]}")
    print("fresh clone: ./just up stopped cleanly", flush=True)


def main(argv: list[str]) -> int:
    parent = Path(tempfile.mkdtemp(prefix="stitchd-fresh-"))
    clone = parent / "stitchd"
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)], check=True)
        head = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        print(f"fresh clone of {head.stdout.strip()} in {clone} (nothing beside it)", flush=True)
        run_up(clone)
        if "--skip-tests" not in argv:
            subprocess.run(["./just", "test"], cwd=clone, check=True)
            print("fresh clone: ./just test passed", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"fresh clone: {exc.cmd} failed with {exc.returncode}", file=sys.stderr)
        return 1
    finally:
        if "--keep" not in argv:
            shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
