"""Benchmark: SDK evaluations per second through the public API, beside domain-level evaluation.

The three flags of `bench_eval` are synced to a real `SdkClient` (a grpclib server in this process
serves their snapshot; the REST side is an httpx MockTransport that accepts exposure batches). Each
row evaluates 100,000 distinct contexts with `client.str_value(...)`, exposures on (the default), and
sits beside the compiled domain evaluation of the same flag measured in the same run: `ratio` is the
share of the domain's speed the SDK keeps (its cost: context normalisation, typing, exposure dedup).
Two more rows: exposures off, and the asyncio client's `await client.str_value(...)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import httpx
from stitchd_sdk import AsyncSdkClient, SdkClient, SdkOptions

from domain.compiled import compile_flag
from domain.conditions.segments import NO_SEGMENTS
from domain.context import ContextSet
from domain.flags.model import FlagDefinition
from tests.bench.bench_eval import SEQUENCE, contexts, flags
from tests.unit.sdk.fakes import SDK_KEY, FakeSyncService, ServerThread, snapshot

RUNS: Final = 3
REST: Final = "http://gateway.bench"


def _accept_all(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"accepted_count": 0, "rejected_keys": []})


def _options(send_exposures: bool) -> SdkOptions:
    transport = httpx.MockTransport(_accept_all)
    return SdkOptions(send_exposures=send_exposures, http_transport=transport, async_http_transport=transport)


def _best_rate(loop: Callable[[], None], count: int) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        loop()
        best = min(best, time.perf_counter() - started)
    return count / best


def _domain_loop(definition: FlagDefinition, population: list[ContextSet]) -> Callable[[], None]:
    cache = {definition.key: compile_flag(definition)}
    key = definition.key

    def loop() -> None:
        for ctx in population:
            cache[key].evaluate(ctx, NO_SEGMENTS, SEQUENCE)

    return loop


def _sdk_loop(client: SdkClient, flag_key: str, population: list[ContextSet]) -> Callable[[], None]:
    def loop() -> None:
        for ctx in population:
            client.str_value(flag_key, ctx, "default")

    return loop


async def _async_rate(server: ServerThread, flag_key: str, population: list[ContextSet]) -> float:
    client = await AsyncSdkClient.connect(server.url, REST, SDK_KEY, timeout=30, options=_options(True))
    try:
        best = float("inf")
        for _ in range(RUNS):
            started = time.perf_counter()
            for ctx in population:
                await client.str_value(flag_key, ctx, "default")
            best = min(best, time.perf_counter() - started)
        return len(population) / best
    finally:
        await client.aclose()


def _row(name: str, rate: float, baseline_name: str, baseline: float) -> dict[str, object]:
    return {
        "name": name,
        "value": round(rate),
        "unit": "evals/s",
        "baseline_name": baseline_name,
        "baseline_value": round(baseline),
        "ratio": round(rate / baseline, 3),
    }


def run() -> list[dict[str, object]]:
    """One row per benchmark flag through SdkClient, plus exposures-off and asyncio rows."""
    definitions = flags()
    population = contexts()
    message = snapshot(SEQUENCE, *definitions.values())
    server = ServerThread(FakeSyncService(lambda request: [message])).start()
    rows: list[dict[str, object]] = []
    try:
        domain = {
            name: _best_rate(_domain_loop(d, population), len(population)) for name, d in definitions.items()
        }
        with SdkClient(server.url, REST, SDK_KEY, timeout=30, options=_options(True)) as client:
            for name, definition in definitions.items():
                rate = _best_rate(_sdk_loop(client, definition.key, population), len(population))
                rows.append(_row(f"sdk.{name.removeprefix('eval.')}", rate, f"domain {name}", domain[name]))
        rule = "eval.rule_or_50pct"
        quiet = _options(False)
        with SdkClient(server.url, REST, SDK_KEY, timeout=30, options=quiet) as client:
            rate = _best_rate(_sdk_loop(client, definitions[rule].key, population), len(population))
            rows.append(_row("sdk.rule_or_50pct.no_exposures", rate, f"domain {rule}", domain[rule]))
        rate = asyncio.run(_async_rate(server, definitions[rule].key, population))
        rows.append(_row("sdk.rule_or_50pct.asyncio", rate, f"domain {rule}", domain[rule]))
    finally:
        server.shutdown()
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
