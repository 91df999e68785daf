"""What the worker stores from a computation (pure): the seed's VariantResults, the winner, the spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from stats_worker import statistics as stats
from stats_worker.pg import IterationPlan, IterationRef, Weight
from stats_worker.results import ExperimentResult, MetricResult, VariantResult
from stats_worker.scheduler import details, iteration_spec, variant_results, winner

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def effect(difference: float, p_value: float | None) -> stats.Effect:
    return stats.Effect(
        difference=difference, relative=None, ci_low=None, ci_high=None, p_value=p_value, statistic=None
    )


def arm(key: str, mean: float, eff: stats.Effect | None, *, control: bool = False) -> VariantResult:
    metric = MetricResult(
        metric_key="purchase",
        value_type="bool",
        n=100,
        total=mean * 100,
        mean=mean,
        variance=None,
        effect=eff,
    )
    return VariantResult(variant_key=key, is_control=control, weight=0.5, participants=100, metrics=[metric])


def result(*treatments: VariantResult, mismatch: bool = False) -> ExperimentResult:
    srm = stats.SrmResult(observed=[], expected=[], chi_square=None, df=1, p_value=None, mismatch=mismatch)
    return ExperimentResult(
        environment_id="env", flag_key="f", start_ms=0, end_ms=None, control_variant="off",
        variants=[arm("off", 0.3, None, control=True), *treatments], excluded_contexts=0, srm=srm,
        computed_at_ms=1,
    )  # fmt: skip


def test_the_winner_is_the_significantly_best_treatment() -> None:
    assert winner(result(arm("a", 0.4, effect(0.1, 0.01)), arm("b", 0.5, effect(0.2, 0.02)))) == "b"
    assert winner(result(arm("a", 0.4, effect(0.1, 0.2)))) is None
    assert winner(result(arm("a", 0.2, effect(-0.1, 0.001)))) == "off"
    assert winner(result(arm("a", 0.2, effect(-0.1, 0.001)), arm("b", 0.3, effect(0.0, 0.9)))) is None
    assert winner(result(arm("a", 0.4, effect(0.1, None)))) is None
    assert winner(result(arm("a", 0.6, effect(0.3, 1e-9)), mismatch=True)) is None


@given(st.lists(st.tuples(st.floats(-1, 1), st.one_of(st.none(), st.floats(0, 1))), min_size=1, max_size=5))
def test_a_winner_is_never_significantly_worse_than_another_arm(
    effects: list[tuple[float, float | None]],
) -> None:
    arms = [arm(f"t{i}", 0.3 + d, effect(d, p)) for i, (d, p) in enumerate(effects)]
    found = winner(result(*arms))
    significant = {
        a.variant_key: d for a, (d, p) in zip(arms, effects, strict=True) if p is not None and p < 0.05
    }
    if found is None:
        return
    if found == "off":
        assert len(significant) == len(arms)
        assert all(d < 0 for d in significant.values())
    else:
        assert significant[found] > 0
        assert significant[found] == max(significant.values())


def test_variant_results_follow_the_seed_shape() -> None:
    computed = result(arm("on", 0.5, effect(0.2, 0.004)))
    assert variant_results(computed) == [
        {"variant_key": "off", "participant_count": 100, "metric_values": {"purchase": 0.3},
         "p_value": 0.0, "p_value_present": False},
        {"variant_key": "on", "participant_count": 100, "metric_values": {"purchase": 0.5},
         "p_value": 0.004, "p_value_present": True},
    ]  # fmt: skip
    body = details(computed, 3)
    assert (body["winner"], body["primary_metric"], body["iteration_number"]) == ("on", "purchase", 3)
    assert body["variants"][1]["metrics"][0]["effect"]["p_value"] == 0.004


def plan(weights: list[Weight], control: str = "off", ended: datetime | None = None) -> IterationPlan:
    return IterationPlan(
        ref=IterationRef(uuid4(), 1, UUID(int=5)), flag_key="checkout", control_variant=control,
        started_at=T0, ended_at=ended, variant_keys=["off", "on"], metric_keys=["purchase", "legacy"],
        weights=weights, metric_types={"purchase": "bool"}, interval=timedelta(minutes=60),
    )  # fmt: skip


def test_the_spec_reads_the_iteration() -> None:
    spec = iteration_spec(plan([], ended=T0 + timedelta(seconds=2)))
    assert (spec.start_ms, spec.end_ms) == (1_767_225_600_000, 1_767_225_602_000)
    assert spec.weights == {"off": 0.5, "on": 0.5}
    assert [(m.key, m.value_type) for m in spec.metrics] == [("purchase", "bool"), ("legacy", "double")]
    weighted = iteration_spec(plan([Weight("off", 200), Weight("on", 800)], control="gone"))
    assert (weighted.weights, weighted.control_variant, weighted.end_ms) == (
        {"off": 0.2, "on": 0.8},
        "off",
        None,
    )
