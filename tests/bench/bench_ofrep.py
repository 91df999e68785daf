"""Benchmark: OFREP single-flag evaluation beside /evaluate and a bare Litestar route, in one run.

- `ofrep.single_flag_requests_per_second`: POST /ofrep/v1/evaluate/flags/{key} (Authorization: Bearer,
  an OpenFeature context) from the in-memory cache, beside a bare Litestar POST route.
- `ofrep.evaluate_requests_per_second`: POST /evaluate (x-sdk-key) in the same app, the same flag and
  context, beside the same bare route.
All three are served by one app (the gateway's strict request class and error handlers), driven
in-process through ASGI, one request at a time, alternating in rounds so load on the machine affects
them alike. Run alone with `python -m tests.bench.bench_ofrep`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any, Final, cast

import httpx
from litestar import Litestar, post

from gateway.bodies import StrictRequest
from gateway.errors import EXCEPTION_HANDLERS
from gateway.evaluate import EvaluateController, install_definitions
from gateway.ofrep import OfrepController
from readmodels.definitions import DefinitionsCache
from stitchd.gateway_main import _offline_deps
from tests.unit.sync_broadcaster.world import World

REQUESTS: Final = 3000
ROUNDS: Final = 5
Row = dict[str, object]


@post("/bare", status_code=200, sync_to_thread=False)
def bare() -> dict[str, object]:
    """The baseline: a Litestar POST route answering a constant."""
    return {"key": "checkout", "reason": "TARGETING_MATCH", "variant": "on", "value": True}


def run(requests: int = REQUESTS) -> list[Row]:
    """Rows of name, value, unit, baseline_name, baseline_value, ratio (`requests` per route)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would drown the table
    return asyncio.run(_run(requests))


async def _run(requests: int) -> list[Row]:
    world = World()
    env = world.environment()
    raw, _ = world.issue_key(env)
    world.create_flag("checkout")
    world.configure(env, "checkout")
    cache = DefinitionsCache()
    await cache.catch_up(world.log)
    app = Litestar(
        route_handlers=[EvaluateController, OfrepController, bare],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=StrictRequest,
    )
    install_definitions(app, cache)
    # the SDK routes' key refresh
    app.state["deps"] = replace(_offline_deps(), event_log=cast(Any, world.log))
    routes = {
        "ofrep": ("/ofrep/v1/evaluate/flags/checkout", {"context": {"targetingKey": "u1", "plan": "plan-3"}},
                  {"Authorization": f"Bearer {raw}"}),
        "evaluate": (f"/v1/environments/{env}/evaluate",
                     {"flag_key": "checkout", "context_key": "u1", "attributes": {"plan": "plan-3"}},
                     {"x-sdk-key": raw}),
        "bare": ("/bare", {"context": {"targetingKey": "u1"}}, {}),
    }  # fmt: skip
    rates = await _rates(app, routes, requests)
    return [
        _row("ofrep.single_flag_requests_per_second", rates["ofrep"], "litestar.bare_post_per_second", rates),
        _row("ofrep.evaluate_requests_per_second", rates["evaluate"], "litestar.bare_post_per_second", rates),
    ]


async def _rates(app: Litestar, routes: dict[str, Any], requests: int) -> dict[str, float]:
    """Requests per second of each route: ROUNDS interleaved rounds of requests/ROUNDS each."""
    spent = dict.fromkeys(routes, 0.0)
    per_round = max(1, requests // ROUNDS)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name, (path, body, headers) in routes.items():
            answer = await client.post(path, json=body, headers=headers)
            assert answer.status_code == 200, (name, answer.text)
        for _ in range(ROUNDS):
            for name, (path, body, headers) in routes.items():
                started = time.perf_counter()
                for _ in range(per_round):
                    await client.post(path, json=body, headers=headers)
                spent[name] += time.perf_counter() - started
    return {name: per_round * ROUNDS / seconds for name, seconds in spent.items()}


def _row(name: str, value: float, baseline_name: str, rates: dict[str, float]) -> Row:
    baseline = rates["bare"]
    return {"name": name, "value": value, "unit": "req/s", "baseline_name": baseline_name,
            "baseline_value": baseline, "ratio": value / baseline}  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(row)
