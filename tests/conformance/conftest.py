"""Print how many cases of each vendored conformance suite ran, passed and were skipped (with reasons)."""

from __future__ import annotations

from collections import Counter

import pytest

SUITES = {
    "test_growthbook.py": "GrowthBook evalCondition",
    "test_unleash.py": "Unleash client specification",
    "test_openfeature_gherkin.py": "OpenFeature gherkin suites",
}
_outcomes: dict[str, Counter[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    suite = next((name for file, name in SUITES.items() if f"/{file}::" in f"/{report.nodeid}"), None)
    if suite is not None and (report.when == "call" or report.skipped):
        _outcomes.setdefault(suite, Counter())[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for suite, counts in sorted(_outcomes.items()):
        terminalreporter.write_line(
            f"conformance: {suite}: {sum(counts.values())} cases, {counts['passed']} passed, "
            f"{counts['failed']} failed, {counts['skipped']} skipped (each with its reason)"
        )
