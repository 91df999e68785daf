"""Benchmark harness: discover tests/bench/bench_*.py, run each `run()`, print a table, merge into JSON.

A bench module defines `run()` (sync or async, no required arguments) returning rows, each a dict with
`name`, `value`, `unit` and optionally `baseline_name`, `baseline_value` (or `baseline`) and `ratio`.
Results merge into `.bench/results.json` by row name, each stamped with the time it was measured.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import msgspec

BENCH_DIR = Path(__file__).resolve().parent
PACKAGE = "tests.bench"


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One measurement, beside the baseline it is judged against."""

    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None


def discover(selector: str | None = None, directory: Path = BENCH_DIR) -> list[str]:
    """Module names of the bench modules; `selector` keeps those whose name (without bench_) contains it."""
    names = sorted(p.stem for p in directory.glob("bench_*.py"))
    if selector:
        names = [n for n in names if selector in n.removeprefix("bench_")]
    return names


def to_row(raw: dict[str, Any]) -> Row:
    """A row from a bench module's dict (`baseline` is accepted as `baseline_value`)."""
    fields = dict(raw)
    if "baseline" in fields and "baseline_value" not in fields:
        fields["baseline_value"] = fields.pop("baseline")
    known = {k: v for k, v in fields.items() if k in Row.__struct_fields__}
    return msgspec.convert(known, Row)


def run_module(module_name: str, package: str = PACKAGE) -> list[Row]:
    """Import one bench module and run it."""
    module = importlib.import_module(f"{package}.{module_name}")
    result = module.run()
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return [to_row(r) for r in result]


async def _awaited(result: Any) -> Any:
    return await result


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table: name, value, unit, baseline, ratio."""
    header = ("name", "value", "unit", "baseline", "ratio")
    body = [
        (
            r.name,
            _number(r.value),
            r.unit,
            _baseline(r),
            "" if r.ratio is None else f"{r.ratio:.3f}",
        )
        for r in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _baseline(row: Row) -> str:
    if row.baseline_value is None:
        return row.baseline_name or ""
    value = _number(row.baseline_value)
    return f"{row.baseline_name} = {value}" if row.baseline_name else value


def merge_results(path: Path, rows: Sequence[Row], now: datetime) -> dict[str, Any]:
    """Merge rows into the JSON file at `path` by name; return the merged document."""
    document: dict[str, Any] = {"results": {}}
    if path.exists():
        document = json.loads(path.read_text())
        document.setdefault("results", {})
    for row in rows:
        document["results"][row.name] = {**msgspec.to_builtins(row), "measured_at": now.isoformat()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return document


def main(argv: Sequence[str], out: TextIO = sys.stdout, results: Path = Path(".bench/results.json")) -> int:
    """Run the selected benches; 1 if none matched or any failed (the others still run and are saved)."""
    selector = argv[0] if argv else None
    modules = discover(selector)
    if not modules:
        print(f"no bench module matches {selector!r}", file=sys.stderr)
        return 1
    rows: list[Row] = []
    failed: list[str] = []
    for name in modules:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(run_module(name))
        except Exception:  # one broken bench must not lose the others' results; it is reported
            traceback.print_exc()
            failed.append(name)
    print(format_table(rows), file=out)
    merge_results(results, rows, datetime.now(UTC))
    print(f"results merged into {results}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
