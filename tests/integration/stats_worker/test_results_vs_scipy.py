"""The worker's numbers from ClickHouse equal scipy.stats on the same raw data to 1e-9 relative."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import pytest
from scipy import stats

from stats_worker.clickhouse_schema import ensure_schema
from stats_worker.results import ExperimentResult, MetricResult, compute_results
from stats_worker.sink import ClickHouseSink
from stats_worker.statistics import SRM_THRESHOLD, Effect
from tests.integration.stats_worker.datasets import (
    Dataset,
    Reference,
    generate,
    make_spec,
    proportion_reference,
    reference,
    welch_reference,
)

pytestmark = pytest.mark.integration

REL = 1e-9
NOW = 1_800_000_000_000


def _close(ours: float | None, ref: float) -> bool:
    """Equal to 1e-9 relative; a non-finite scipy answer must be our explicit None."""
    if not math.isfinite(ref):
        return ours is None
    return ours is not None and ours == pytest.approx(ref, rel=REL, abs=1e-12)


def _load(client: Any, db: str, ds: Dataset) -> ExperimentResult:
    sink = ClickHouseSink(client, db)
    half = len(ds.events) // 2
    sink.insert(ds.events[:half], ds.exposures)  # two batches, as a consumer would
    sink.insert(ds.events[half:], [])
    return compute_results(client, ds.spec, now_ms=NOW, database=db)


def _check_effect(metric: MetricResult, treatment: np.ndarray, control: np.ndarray) -> None:
    effect = metric.effect
    if len(treatment) == 0 or len(control) == 0:
        assert effect is None
        return
    assert isinstance(effect, Effect)
    assert effect.difference == pytest.approx(treatment.mean() - control.mean(), rel=REL, abs=1e-12)
    if metric.value_type == "bool":
        ref = proportion_reference(treatment, control)
    else:
        ref = welch_reference(treatment, control)
        assert _close(effect.df, ref["df"]) or effect.statistic is None
    for name in ("statistic", "p_value", "ci_low", "ci_high"):
        assert _close(getattr(effect, name), ref[name]), (metric.metric_key, name, getattr(effect, name), ref)


def _check(result: ExperimentResult, ref: Reference) -> None:
    spec_control = result.control_variant
    assert result.excluded_contexts == ref.excluded
    for variant in result.variants:
        assert variant.participants == ref.participants[variant.variant_key]
        for metric in variant.metrics:
            values = ref.values[(variant.variant_key, metric.metric_key)]
            assert metric.n == len(values) == variant.participants
            if len(values):
                assert metric.mean == pytest.approx(values.mean(), rel=REL, abs=1e-12)
                assert _close(metric.variance, float(np.var(values, ddof=1)) if len(values) > 1 else math.nan)
            if variant.variant_key == spec_control:
                assert metric.effect is None
            else:
                _check_effect(metric, values, ref.values[(spec_control, metric.metric_key)])
    _check_srm(result, ref)


def _check_srm(result: ExperimentResult, ref: Reference) -> None:
    observed = np.array([ref.participants[v.variant_key] for v in result.variants], dtype=float)
    weights = np.array([v.weight for v in result.variants])
    expected = observed.sum() * weights / weights.sum()
    with np.errstate(all="ignore"):  # no participants: scipy's nan, our None
        chi, p = stats.chisquare(observed, expected)
    assert _close(result.srm.chi_square, float(chi))
    assert _close(result.srm.p_value, float(p))
    assert result.srm.mismatch == (float(p) < SRM_THRESHOLD)


def _conversion(rng: np.random.Generator, variant: str) -> bool | None:
    rate = {"control": 0.3, "treatment": 0.36, "treatment_b": 0.3}[variant]
    return None if rng.random() < 0.05 else bool(rng.random() < rate)


def _revenue(rng: np.random.Generator, variant: str) -> float:
    scale = 1.15 if variant == "treatment" else 1.0
    outlier = rng.random() < 0.01
    return float(rng.lognormal(3.0, 1.0) * scale * (1000.0 if outlier else 1.0))


def _items(rng: np.random.Generator, variant: str) -> int:
    return int(rng.poisson(2.0 if variant == "control" else 2.2))


def test_conversion_matches_scipy(chdb_client: Any, ch_database: str) -> None:
    ensure_schema(chdb_client, ch_database)
    spec = make_spec(
        "env-conv", {"control": 50.0, "treatment": 25.0, "treatment_b": 25.0}, {"purchase": "bool"}
    )
    ds = generate(1, spec, {"control": 1200, "treatment": 600, "treatment_b": 600}, {"purchase": _conversion})
    result = _load(chdb_client, ch_database, ds)
    ref = reference(ds)
    _check(result, ref)
    assert ref.excluded > 0
    assert result.computed_at_ms == NOW


def test_revenue_with_outliers_matches_scipy(chdb_client: Any, ch_database: str) -> None:
    ensure_schema(chdb_client, ch_database)
    spec = make_spec(
        "env-rev", {"control": 1.0, "treatment": 1.0}, {"revenue": "double", "items": "int", "bought": "bool"}
    )
    draws = {"revenue": _revenue, "items": _items, "bought": _conversion}
    ds = generate(2, spec, {"control": 900, "treatment": 900}, draws, event_rate=0.8)
    _check(_load(chdb_client, ch_database, ds), reference(ds))


@pytest.mark.parametrize("seed", range(12))
def test_tiny_samples_match_scipy_or_are_none(chdb_client: Any, ch_database: str, seed: int) -> None:
    ensure_schema(chdb_client, ch_database)
    spec = make_spec(
        f"env-tiny-{seed}", {"control": 1.0, "treatment": 1.0}, {"revenue": "double", "ok": "bool"}
    )
    rng = np.random.default_rng(seed)
    sizes = {"control": int(rng.integers(0, 4)), "treatment": int(rng.integers(0, 4))}
    ds = generate(seed, spec, sizes, {"revenue": _items, "ok": _conversion}, event_rate=0.7, noise=False)
    _check(_load(chdb_client, ch_database, ds), reference(ds))


def test_null_effect_with_ratio_mismatch_is_flagged(chdb_client: Any, ch_database: str) -> None:
    ensure_schema(chdb_client, ch_database)
    spec = make_spec("env-srm", {"control": 50.0, "treatment": 50.0}, {"revenue": "double", "bought": "bool"})

    def same_revenue(rng: np.random.Generator, _variant: str) -> float:
        return float(rng.gamma(2.0, 20.0))

    def same_conversion(rng: np.random.Generator, _variant: str) -> bool:
        return bool(rng.random() < 0.2)

    draws = {"revenue": same_revenue, "bought": same_conversion}
    ds = generate(4, spec, {"control": 1000, "treatment": 1250}, draws)
    result = _load(chdb_client, ch_database, ds)
    _check(result, reference(ds))
    assert result.srm.mismatch


def test_a_later_open_iteration_counts_only_its_own_window(chdb_client: Any, ch_database: str) -> None:
    ensure_schema(chdb_client, ch_database)
    spec = make_spec("env-win", {"control": 1.0, "treatment": 1.0}, {"bought": "bool", "revenue": "double"})
    ds = generate(5, spec, {"control": 300, "treatment": 300}, {"bought": _conversion, "revenue": _revenue})
    full = _load(chdb_client, ch_database, ds)
    later = msgspec.structs.replace(spec, start_ms=spec.start_ms + 3 * 24 * 3600 * 1000, end_ms=None)
    result = compute_results(chdb_client, later, now_ms=NOW, database=ch_database)
    _check(result, reference(Dataset(spec=later, exposures=ds.exposures, events=ds.events)))
    assert 0 < sum(v.participants for v in result.variants) < sum(v.participants for v in full.variants)
