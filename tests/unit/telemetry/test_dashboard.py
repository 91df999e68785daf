"""The Grafana dashboard queries only metric families Stitchd exports (no drift after a rename)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from telemetry import metrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "stitchd.json"


def _exported() -> set[str]:
    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        names |= {s.name for s in family.samples} | {family.name}
    return names


def test_every_dashboard_query_names_an_exported_metric() -> None:
    metrics.configure(enabled=False)
    panels = json.loads(DASHBOARD.read_text())["panels"]
    used = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\bstitchd_[a-z_]+", target["expr"])
    }
    assert used
    exported = _exported() | {n + "_bucket" for n in _exported()} | {n + "_total" for n in _exported()}
    assert used <= exported, sorted(used - exported)
