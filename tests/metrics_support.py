"""Test helpers for Prometheus metrics: recording switched on for a block, one sample read from a scrape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from telemetry import metrics


@contextmanager
def metrics_on() -> Iterator[None]:
    was = metrics.enabled()
    metrics.configure(enabled=True)
    try:
        yield
    finally:
        metrics.configure(enabled=was)


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


def scraped(name: str, **labels: str) -> float:
    """The current value of one sample of this process's registry (0.0 before its first increment)."""
    return sample(metrics.render().decode(), name, **labels) or 0.0
