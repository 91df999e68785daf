"""Turning ClickHouse aggregate rows into results, with a small fake client (no services)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from stats_worker.results import (
    InconsistentReadError,
    IterationSpec,
    MetricSpec,
    compute_results,
)

SPEC = IterationSpec(
    environment_id="env",
    flag_key="checkout",
    start_ms=0,
    end_ms=None,
    variant_keys=["control", "treatment"],
    control_variant="control",
    metrics=[MetricSpec("bought", "bool"), MetricSpec("revenue", "double")],
    weights={"control": 50.0, "treatment": 50.0},
)

Row = tuple[str, str | None, str, int, float, float]
CONSISTENT: list[Row] = [
    ("participants", "control", "", 100, 0.0, 0.0),
    ("participants", "treatment", "", 120, 0.0, 0.0),
    ("participants", None, "", 4, 0.0, 0.0),
    ("metric", "control", "bought", 30, 20.0, 0.2),
    ("metric", "treatment", "bought", 40, 30.0, 0.2),
    ("metric", "control", "revenue", 30, 300.0, 25.0),
    ("metric", "treatment", "revenue", 40, 500.0, 36.0),
]
TOO_MANY = [("participants", "control", "", 10, 0.0, 0.0), *CONSISTENT[1:]]


@dataclass
class _Result:
    result_rows: Sequence[Row]


class FakeClient:
    """Answers each query with the next prepared row set."""

    def __init__(self, *answers: list[Row]) -> None:
        self.answers = list(answers)
        self.queries: list[dict[str, Any]] = []

    def query(self, query: str | None = None, parameters: dict[str, Any] | None = None) -> _Result:
        self.queries.append(dict(parameters or {}))
        return _Result(self.answers.pop(0))


def test_rows_become_per_variant_results() -> None:
    result = compute_results(FakeClient(CONSISTENT), SPEC, now_ms=42)
    control, treatment = result.variants
    assert [control.participants, treatment.participants, result.excluded_contexts] == [100, 120, 4]
    assert control.is_control
    assert not treatment.is_control
    assert treatment.metrics[0].mean == pytest.approx(30 / 120)
    assert treatment.metrics[1].total == 500.0
    assert control.metrics[1].effect is None
    assert treatment.metrics[0].effect is not None
    assert treatment.metrics[0].effect.df is None  # a z-test
    assert treatment.metrics[1].effect is not None
    assert treatment.metrics[1].effect.df is not None  # a Welch t-test
    assert result.srm.observed == [100, 120]
    assert result.computed_at_ms == 42


def test_the_query_is_bound_to_the_spec() -> None:
    client = FakeClient(CONSISTENT)
    compute_results(client, SPEC, now_ms=0)
    params = client.queries[0]
    assert params["variants"] == ["control", "treatment"]
    assert params["bool_metrics"] == ["bought"]
    assert params["end"] == 2**63 - 1  # a running iteration has no end yet


def test_a_read_racing_an_insert_is_retried() -> None:
    client = FakeClient(TOO_MANY, CONSISTENT)
    assert compute_results(client, SPEC, now_ms=0).variants[0].participants == 100
    assert len(client.queries) == 2


def test_a_read_that_never_settles_fails_loudly() -> None:
    with pytest.raises(InconsistentReadError):
        compute_results(FakeClient(TOO_MANY, TOO_MANY, TOO_MANY), SPEC, now_ms=0)


def test_variants_without_rows_are_empty_and_have_no_effect() -> None:
    result = compute_results(FakeClient([]), SPEC, now_ms=0)
    assert [v.participants for v in result.variants] == [0, 0]
    assert all(m.effect is None for v in result.variants for m in v.metrics)
    assert result.srm.p_value is None


def test_the_control_must_be_a_variant() -> None:
    spec = msgspec.structs.replace(SPEC, control_variant="x")
    with pytest.raises(ValueError):
        compute_results(FakeClient(CONSISTENT), spec, now_ms=0)
