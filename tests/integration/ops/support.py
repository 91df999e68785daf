"""Shared helpers of the operability tests: metrics switched on for a test, polling an HTTP endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.metrics_support import metrics_on, sample

__all__ = ["WAIT", "get_when", "metrics_on", "sample"]

WAIT = 20.0  # upper bound so a broken server fails instead of hanging; never asserted on


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
