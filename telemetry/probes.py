"""Kubernetes-style probes: liveness (the loop answers), readiness (named checks pass), startup.

A check is an async callable that raises (or times out) when its dependency is not usable; readiness
runs every check at once, each bounded by `timeout`, and answers which failed. The answer is a small
JSON document, `{"status": "ok" | "unavailable", "checks": {name: "ok" | reason}}`, with 200 or 503.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

Check = Callable[[], Awaitable[None]]
DEFAULT_TIMEOUT = 2.0


class NotReadyError(RuntimeError):
    """A check's dependency is not usable; the message says why (never a secret)."""


@dataclass(frozen=True)
class ProbeAnswer:
    status: int
    body: bytes


@dataclass
class Probes:
    """The checks of one process; `started` says whether its start-up work (caches, connections) is done."""

    checks: dict[str, Check] = field(default_factory=dict)
    started: Callable[[], bool] = lambda: True
    timeout: float = DEFAULT_TIMEOUT

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def liveness(self) -> ProbeAnswer:
        return _answer({})

    async def startup(self) -> ProbeAnswer:
        return _answer({"started": "ok" if self.started() else "starting"})

    async def readiness(self) -> ProbeAnswer:
        if not self.started():
            return _answer({"started": "starting"})
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        return _answer(dict(zip(names, results, strict=True)))

    async def _run(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), self.timeout)
        except TimeoutError:
            return f"no answer within {self.timeout:g}s"
        except Exception as exc:  # any failure means not ready; the reason is reported, not swallowed
            return str(exc) or type(exc).__name__
        return "ok"


def _answer(checks: Mapping[str, str]) -> ProbeAnswer:
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": dict(checks)}
    return ProbeAnswer(200 if ok else 503, json.dumps(body).encode())


def task_running(task: asyncio.Task[None] | Callable[[], asyncio.Task[None] | None], what: str) -> Check:
    """A check that fails once the background task (or the one the callable returns) has ended."""

    async def check() -> None:
        current = task() if callable(task) and not isinstance(task, asyncio.Task) else task
        if current is None:
            raise NotReadyError(f"{what} not started")
        if current.done():
            raise NotReadyError(f"{what} stopped")

    return check
