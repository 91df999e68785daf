"""Experiment results for one iteration, aggregated in ClickHouse in one statement.

Rules (issue 6): a participant is a context (context_type, context_key) with an exposure to one of the
experiment's variants inside the iteration window [start_ms, end_ms); its variant and first-exposure time
come from those exposures. Contexts exposed to more than one of the variants are excluded and counted.
A participant's value for a metric is the sum of its event values with first_exposure <= timestamp <
end_ms (a NULL value counts as 1, an occurrence); boolean metrics use "converted" (1 if any such event is
true or NULL, else 0); participants without events count as 0. Exposures to keys outside
`variant_keys` (an off variant, say) are ignored.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal, Protocol

import msgspec

from stats_worker import statistics as st
from stats_worker.clickhouse_schema import DEFAULT_DATABASE, checked_database

ValueType = Literal["bool", "int", "double"]
OPEN_END: Final = 2**63 - 1
ATTEMPTS: Final = 3

# One statement, so participant counts and metric aggregates come from the same read of the tables
# (with ingest running, two statements could disagree). Rows of kind 'participants' count contexts per
# arm (NULL arm: exposed to several variants). Rows of kind 'metric' hold, per (arm, metric), k, sum and
# sample variance over the participants that have events; the participants without events are zeros,
# merged in Python (statistics.Moments.padded_with_zeros), which spares an outer join over everyone.
# The participants set is the right (hash-table) side of the join; the events stream past it.
_RESULTS_SQL: Final = """
WITH participants AS (
    SELECT
        if(uniqExact(variant_key) = 1, toNullable(toString(any(variant_key))), NULL) AS arm,
        context_type,
        context_key,
        min(timestamp_ms) AS first_ms
    FROM {db}.exposures FINAL
    WHERE environment_id = {env:String} AND flag_key = {flag:String}
      AND timestamp_ms >= {start:Int64} AND timestamp_ms < {end:Int64}
      AND has({variants:Array(String)}, variant_key)
    GROUP BY context_type, context_key
)
SELECT 'participants' AS kind, arm, '' AS metric, count() AS k, 0.0 AS total, 0.0 AS variance
FROM participants
GROUP BY arm
UNION ALL
SELECT 'metric' AS kind, member AS arm, metric, count() AS k, sum(x) AS total, varSampStable(x) AS variance
FROM (
    SELECT p.member AS member, e.metric AS metric,
           if(has({bool_metrics:Array(String)}, e.metric), toFloat64(max(e.v) > 0), sum(e.v)) AS x
    FROM (
        SELECT context_type, context_key, toString(metric_key) AS metric, timestamp_ms,
               coalesce(value, 1.0) AS v
        FROM {db}.metric_events FINAL
        WHERE environment_id = {env:String} AND has({metrics:Array(String)}, metric_key)
          AND timestamp_ms < {end:Int64}
    ) AS e
    INNER JOIN (
        SELECT assumeNotNull(arm) AS member, context_type, context_key, first_ms
        FROM participants
        WHERE arm IS NOT NULL
    ) AS p ON e.context_type = p.context_type AND e.context_key = p.context_key
    WHERE e.timestamp_ms >= p.first_ms
    GROUP BY p.member, e.context_type, e.context_key, e.metric
)
GROUP BY member, metric
"""


class QueryClient(Protocol):
    """The part of clickhouse-connect's `Client` used here (`query(...).result_rows`)."""

    def query(self, query: str | None = None, parameters: dict[str, Any] | None = None) -> Any: ...


class InconsistentReadError(RuntimeError):
    """Counts and metric aggregates disagreed (a concurrent insert between the two reads); retry."""


class MetricSpec(msgspec.Struct, frozen=True):
    """A metric of the experiment and its registered value type."""

    key: str
    value_type: ValueType


class IterationSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One experiment iteration: window [start_ms, end_ms) (None = still running), arms and metrics."""

    environment_id: str
    flag_key: str
    start_ms: int
    end_ms: int | None
    variant_keys: list[str]
    control_variant: str
    metrics: list[MetricSpec]
    weights: dict[str, float]


class MetricResult(msgspec.Struct, frozen=True, kw_only=True):
    """One metric in one variant; `effect` is against the control (None for the control itself)."""

    metric_key: str
    value_type: ValueType
    n: int
    total: float
    mean: float
    variance: float | None
    effect: st.Effect | None


class VariantResult(msgspec.Struct, frozen=True, kw_only=True):
    """One arm: its participants and per-metric results, in the spec's metric order."""

    variant_key: str
    is_control: bool
    weight: float
    participants: int
    metrics: list[MetricResult]


class ExperimentResult(msgspec.Struct, frozen=True, kw_only=True):
    """Results of one iteration, variants in the spec's order."""

    environment_id: str
    flag_key: str
    start_ms: int
    end_ms: int | None
    control_variant: str
    variants: list[VariantResult]
    excluded_contexts: int
    srm: st.SrmResult
    computed_at_ms: int


def compute_results(
    client: QueryClient, spec: IterationSpec, *, now_ms: int, database: str = DEFAULT_DATABASE
) -> ExperimentResult:
    """Aggregate the iteration in ClickHouse and test every variant against the control."""
    if spec.control_variant not in spec.variant_keys:
        raise ValueError(f"control {spec.control_variant!r} is not one of the variants")
    db = checked_database(database)
    counts, moments = _read(client, db, spec)
    participants = [counts.get(v, 0) for v in spec.variant_keys]
    return ExperimentResult(
        environment_id=spec.environment_id,
        flag_key=spec.flag_key,
        start_ms=spec.start_ms,
        end_ms=spec.end_ms,
        control_variant=spec.control_variant,
        variants=[_variant(spec, v, counts.get(v, 0), moments) for v in spec.variant_keys],
        excluded_contexts=counts.get(None, 0),
        srm=st.srm(participants, [spec.weights.get(v, 0.0) for v in spec.variant_keys]),
        computed_at_ms=now_ms,
    )


def _params(spec: IterationSpec) -> dict[str, Any]:
    return {
        "env": spec.environment_id,
        "flag": spec.flag_key,
        "start": spec.start_ms,
        "end": OPEN_END if spec.end_ms is None else spec.end_ms,
        "variants": list(spec.variant_keys),
        "metrics": [m.key for m in spec.metrics],
        "bool_metrics": [m.key for m in spec.metrics if m.value_type == "bool"],
    }


_Key = tuple[str, str]
_Moments = dict[_Key, tuple[st.Moments, float]]


def _read(client: QueryClient, db: str, spec: IterationSpec) -> tuple[dict[str | None, int], _Moments]:
    """Participant counts (None: excluded) and per (variant, metric) moments with their sums."""
    sql = _RESULTS_SQL.replace("{db}", db)  # db is a checked identifier; values are bound server-side
    for attempt in range(ATTEMPTS):
        rows = client.query(sql, parameters=_params(spec)).result_rows
        try:
            return _assemble(spec, rows)
        except InconsistentReadError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _assemble(spec: IterationSpec, rows: Any) -> tuple[dict[str | None, int], _Moments]:
    counts: dict[str | None, int] = {}
    observed: dict[_Key, tuple[int, float, Any]] = {}
    for kind, arm, metric, k, total, variance in rows:
        if kind == "participants":
            counts[arm] = int(k)
        else:
            observed[(str(arm), str(metric))] = (int(k), float(total), variance)
    out: _Moments = {}
    for variant in spec.variant_keys:
        for metric in spec.metrics:
            k, total, variance = observed.get((variant, metric.key), (0, 0.0, None))
            if k > counts.get(variant, 0):
                raise InconsistentReadError(f"{k} participants with {metric.key!r} events in {variant!r}")
            var = float(variance) if k >= 2 and _is_finite(variance) else None
            seen = st.Moments(n=k, mean=total / k if k else 0.0, variance=var)
            out[(variant, metric.key)] = (st.Moments.padded_with_zeros(counts.get(variant, 0), seen), total)
    return counts, out


def _is_finite(x: Any) -> bool:
    return isinstance(x, float | int) and math.isfinite(x)


def _variant(spec: IterationSpec, variant: str, participants: int, moments: _Moments) -> VariantResult:
    return VariantResult(
        variant_key=variant,
        is_control=variant == spec.control_variant,
        weight=spec.weights.get(variant, 0.0),
        participants=participants,
        metrics=[_metric(spec, variant, m, moments) for m in spec.metrics],
    )


def _metric(spec: IterationSpec, variant: str, metric: MetricSpec, moments: _Moments) -> MetricResult:
    m, total = moments[(variant, metric.key)]
    effect = None
    if variant != spec.control_variant:
        control, control_total = moments[(spec.control_variant, metric.key)]
        if metric.value_type == "bool":
            effect = st.two_proportion(
                st.Proportion(n=m.n, successes=round(total)),
                st.Proportion(n=control.n, successes=round(control_total)),
            )
        else:
            effect = st.welch(m, control)
    return MetricResult(
        metric_key=metric.key,
        value_type=metric.value_type,
        n=m.n,
        total=total,
        mean=m.mean,
        variance=m.variance,
        effect=effect,
    )
