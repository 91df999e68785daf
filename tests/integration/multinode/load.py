"""A bounded, steady load on the topology: flag writes, evaluations and metric ingest, each request
retried on the other gateway when the one it went to is down (with the same Idempotency-Key or event
id, so a retry of a request that did land changes nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.gateway.support import Tenant
from tests.integration.sync_broadcaster.support import BOOL_FLAG

RETRY_WITHIN = 90.0  # a request no gateway answers within this long fails the test
PROGRESS_WITHIN = 120.0
UNAVAILABLE = {502, 503, 504}
METRIC = "clicks"


@dataclass
class Load:
    gateways: list[str]
    tenant: Tenant
    written: list[str] = field(default_factory=list)  # flag keys whose creation was acknowledged
    ingested: set[str] = field(default_factory=set)  # event ids the gateway accepted
    evaluations: int = 0
    failovers: int = 0
    _turn: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def env(self) -> str:
        return str(self.tenant.environment_id)

    async def call(self, method: str, path: str, *, json: Any, headers: dict[str, str]) -> httpx.Response:
        """The first answer that is not 'this gateway is down', trying the gateways in turn."""
        deadline = time.monotonic() + RETRY_WITHIN
        while True:
            self._turn += 1
            base = self.gateways[self._turn % len(self.gateways)]
            try:
                async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
                    response = await client.request(method, path, json=json, headers=headers)
                if response.status_code not in UNAVAILABLE:
                    return response
            except httpx.TransportError:
                pass
            self.failovers += 1
            assert time.monotonic() < deadline, f"no gateway answered {method} {path}"
            await asyncio.sleep(0.2)

    async def write(self, i: int) -> None:
        key = f"load-{i}"
        headers = {"Authorization": f"Bearer {self.tenant.token}", "Idempotency-Key": f"create-{key}"}
        body = {**BOOL_FLAG, "key": key}
        answer = await self.call("POST", f"/v1/environments/{self.env}/flags", json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.text
        self.written.append(key)

    async def evaluate(self, i: int) -> None:
        body = {"flag_key": "checkout", "context_key": f"u{i}"}
        headers = {"x-sdk-key": self.tenant.sdk_key}
        answer = await self.call("POST", f"/v1/environments/{self.env}/evaluate", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        self.evaluations += 1

    async def ingest(self, i: int) -> None:
        event_id = f"event-{i}"
        body = {"metric_key": METRIC, "context_key": f"u{i}", "value": 1, "event_id": event_id}
        headers = {"x-sdk-key": self.tenant.sdk_key}
        answer = await self.call("POST", f"/v1/environments/{self.env}/events", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted_count"] == 1, answer.text
        self.ingested.add(event_id)

    def counts(self) -> tuple[int, int, int]:
        return len(self.written), self.evaluations, len(self.ingested)

    async def progress(self, at_least: int = 3) -> None:
        """Wait until every kind of request has completed `at_least` more times (the load goes on)."""
        start = self.counts()
        deadline = time.monotonic() + PROGRESS_WITHIN
        while any(now - before < at_least for now, before in zip(self.counts(), start, strict=True)):
            for task in self._tasks:
                if task.done():
                    task.result()  # a request stream that failed: its error, not a stall
            assert time.monotonic() < deadline, f"the load stalled at {self.counts()} (from {start})"
            await asyncio.sleep(0.2)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The three request streams in the background for the block; their failures surface at exit."""
        stop = asyncio.Event()

        async def every(pause: float, step: Any) -> None:
            i = 0
            while not stop.is_set():
                await step(i)
                i += 1
                await asyncio.sleep(pause)

        self._tasks = tasks = [
            asyncio.create_task(every(0.5, self.write)),
            asyncio.create_task(every(0.05, self.evaluate)),
            asyncio.create_task(every(0.1, self.ingest)),
        ]
        try:
            yield
        finally:
            stop.set()
            done = await asyncio.gather(*tasks, return_exceptions=True)
        for result in done:
            if isinstance(result, BaseException):
                raise result
