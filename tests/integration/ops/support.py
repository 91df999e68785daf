"""Shared helpers of the operability tests: metrics switched on for a test, polling an HTTP endpoint."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from telemetry import metrics

WAIT = 20.0  # upper bound so a broken server fails instead of hanging; never asserted on


@contextmanager
def metrics_on() -> Iterator[None]:
    was = metrics.enabled()
    metrics.configure(enabled=True)
    try:
        yield
    finally:
        metrics.configure(enabled=was)


async def get_when(url: str, done: Any = lambda r: True) -> httpx.Response:
    """GET `url` until it answers and `done(response)` holds (bounded by WAIT)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    async with httpx.AsyncClient(timeout=WAIT) as client:
        while True:
            try:
                response = await client.get(url)
                if done(response):
                    return response
            except httpx.TransportError:
                pass
            assert loop.time() < deadline, f"{url} never answered as expected"
            await asyncio.sleep(0.05)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (labels must all match), else None."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(\{{(.*)\}})? (\S+)", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None
