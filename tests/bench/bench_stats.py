"""Benchmark: experiment results over 1 million exposures and 10 million metric events in chdb.

The data is generated inside ClickHouse with `numbers()`, not by Python loops. `baseline` is the time
budget we hold the computation to; `ratio` = value / baseline (below 1 is within budget).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any, Final

from stats_worker.clickhouse_schema import ensure_schema, open_client
from stats_worker.results import IterationSpec, MetricSpec, compute_results

DATABASE: Final = "bench_stats"
EXPOSURES: Final = 1_000_000
EVENTS: Final = 10_000_000
CONTEXTS: Final = 800_000  # fewer contexts than exposures: repeats, and some see both variants
START: Final = 1_700_000_000_000
WINDOW_MS: Final = 7 * 24 * 3600 * 1000
BUDGET_S: Final = 20.0
RUNS: Final = 3

SPEC: Final = IterationSpec(
    environment_id="bench",
    flag_key="checkout",
    start_ms=START,
    end_ms=START + WINDOW_MS,
    variant_keys=["control", "treatment"],
    control_variant="control",
    metrics=[MetricSpec("purchase", "bool"), MetricSpec("revenue", "double")],
    weights={"control": 50.0, "treatment": 50.0},
)

_EXPOSURES_SQL: Final = f"""
INSERT INTO {DATABASE}.exposures
    (environment_id, flag_key, event_id, variant_key, context_type, context_key, sequence, timestamp_ms)
SELECT 'bench', 'checkout', concat('x-', toString(number)),
       if(cityHash64(number) % 1000 < 3, 'treatment',
          ['control', 'treatment'][(number % {CONTEXTS}) % 2 + 1]),
       'user', toString(number % {CONTEXTS}), 1, {START} + (cityHash64(number, 1) % {WINDOW_MS})
FROM numbers({EXPOSURES})
"""

_EVENTS_SQL: Final = f"""
INSERT INTO {DATABASE}.metric_events
    (environment_id, metric_key, event_id, context_type, context_key, value, timestamp_ms, received_at_ms)
SELECT 'bench', if(number % 2 = 0, 'purchase', 'revenue'), concat('m-', toString(number)),
       'user', toString(cityHash64(number) % {CONTEXTS}),
       if(number % 2 = 0, toFloat64(cityHash64(number, 2) % 10 < 3),
          (cityHash64(number, 3) % 100000) / 100.0),
       {START} + (cityHash64(number, 4) % {WINDOW_MS}), {START} + (cityHash64(number, 4) % {WINDOW_MS}) + 5
FROM numbers({EVENTS})
"""


def generate(client: Any) -> None:
    """Create the tables and fill them with the benchmark data set."""
    client.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    ensure_schema(client, DATABASE)
    client.command(_EXPOSURES_SQL)
    client.command(_EVENTS_SQL)
    # Steady state: background merges have caught up, as they do between hourly computations.
    client.command(f"OPTIMIZE TABLE {DATABASE}.exposures FINAL")
    client.command(f"OPTIMIZE TABLE {DATABASE}.metric_events FINAL")


def _timed_results(client: Any) -> float:
    began = time.perf_counter()
    compute_results(client, SPEC, now_ms=int(time.time() * 1000), database=DATABASE)
    return time.perf_counter() - began


def run(client: Any | None = None) -> list[dict[str, Any]]:
    """Rows of name, value, unit, baseline and ratio; opens a throw-away chdb unless given a client."""
    owned = client is None
    ch = client if client is not None else open_client(f"chdb://{tempfile.mkdtemp(prefix='bench-stats-')}")
    try:
        began = time.perf_counter()
        generate(ch)
        generated = time.perf_counter() - began
        _timed_results(ch)  # warm-up
        seconds = statistics.median(_timed_results(ch) for _ in range(RUNS))
        ch.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    finally:
        if owned:
            ch.close()
    return [
        _row("stats.results_1M_exposures_10M_events", seconds, "s", BUDGET_S),
        _row("stats.generate_1M_exposures_10M_events", generated, "s", 60.0),
    ]


def _row(name: str, value: float, unit: str, baseline: float) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": value / baseline}


if __name__ == "__main__":
    for row in run():
        print(row)
