"""The benchmark harness: discovery, row shapes, the table and merging results by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.harness import Row, discover, format_table, merge_results, to_row

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 1, 2, tzinfo=UTC)


def test_discovery_finds_bench_modules_and_filters_by_name(tmp_path: Path) -> None:
    for name in ("bench_eval.py", "bench_store.py", "helpers.py"):
        (tmp_path / name).write_text("")
    assert discover(directory=tmp_path) == ["bench_eval", "bench_store"]
    assert discover("store", directory=tmp_path) == ["bench_store"]
    assert discover("nothing", directory=tmp_path) == []


def test_rows_accept_baseline_as_the_baseline_value_and_ignore_extra_keys() -> None:
    row = to_row({"name": "a", "value": 2, "unit": "s", "baseline": 4.0, "ratio": 0.5, "note": "x"})
    assert row == Row(name="a", value=2.0, unit="s", baseline_value=4.0, ratio=0.5)


def test_the_table_has_a_header_rule_and_one_line_per_row() -> None:
    rows = [
        Row(
            name="eval.simple",
            value=250000,
            unit="evals/s",
            baseline_name="floor",
            baseline_value=500000,
            ratio=0.5,
        ),
        Row(name="store.append", value=1.25, unit="ms"),
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["name", "value", "unit", "baseline", "ratio"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["eval.simple", "250,000", "evals/s", "floor", "=", "500,000", "0.500"]
    assert lines[3].split() == ["store.append", "1.25", "ms"]


def test_results_merge_by_name_keeping_other_benches(tmp_path: Path) -> None:
    path = tmp_path / ".bench" / "results.json"
    merge_results(path, [Row(name="a", value=1, unit="s"), Row(name="b", value=2, unit="s")], T1)
    merge_results(path, [Row(name="a", value=3, unit="s")], T2)
    results = json.loads(path.read_text())["results"]
    assert results["a"]["value"] == 3
    assert results["a"]["measured_at"] == T2.isoformat()
    assert results["b"]["value"] == 2
    assert results["b"]["measured_at"] == T1.isoformat()
