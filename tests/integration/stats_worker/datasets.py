"""Generated raw experiment data and an independent Python/scipy reference of its statistics."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from schemas.ingest import ExposureMsg, MetricEventMsg
from stats_worker.results import IterationSpec, MetricSpec

START = 1_700_000_000_000
END = START + 7 * 24 * 3600 * 1000
Value = bool | int | float | None
Draw = Callable[[np.random.Generator, str], Value]  # (rng, variant) -> one event value


@dataclass
class Dataset:
    """Raw messages (duplicates included) plus the iteration they belong to."""

    spec: IterationSpec
    exposures: list[ExposureMsg] = field(default_factory=list)
    events: list[MetricEventMsg] = field(default_factory=list)


class _Ids:
    def __init__(self, prefix: str) -> None:
        self._n = itertools.count()
        self._prefix = prefix

    def __call__(self) -> str:
        return f"{self._prefix}-{next(self._n)}"


def make_spec(env: str, arms: Mapping[str, float], metrics: Mapping[str, str]) -> IterationSpec:
    """An iteration over [START, END) whose first arm is the control."""
    return IterationSpec(
        environment_id=env,
        flag_key="checkout",
        start_ms=START,
        end_ms=END,
        variant_keys=list(arms),
        control_variant=next(iter(arms)),
        metrics=[MetricSpec(k, t) for k, t in metrics.items()],  # type: ignore[arg-type]
        weights=dict(arms),
    )


def generate(
    seed: int,
    spec: IterationSpec,
    sizes: Mapping[str, int],
    draws: Mapping[str, Draw],
    *,
    event_rate: float = 1.5,
    noise: bool = True,
) -> Dataset:
    """Participants per arm with events around their exposure, plus noise the rules must filter out."""
    rng = np.random.default_rng(seed)
    ds = Dataset(spec=spec)
    ids = _Ids(f"{spec.environment_id}-{seed}")
    for variant, size in sizes.items():
        for i in range(size):
            ctx = ("device" if i % 7 == 3 else "user", f"{variant}-{i}")
            first = int(rng.integers(START, END))
            _expose(ds, ids, ctx, variant, first, spec.flag_key)
            for _ in range(int(rng.integers(0, 3))):  # later repeats (some after END)
                _expose(
                    ds, ids, ctx, variant, first + int(rng.integers(0, 2 * 24 * 3600 * 1000)), spec.flag_key
                )
            if noise and rng.random() < 0.03:  # a second variant in the window: excluded
                other = spec.variant_keys[(spec.variant_keys.index(variant) + 1) % len(spec.variant_keys)]
                _expose(ds, ids, ctx, other, int(rng.integers(START, END)), spec.flag_key)
            _events(ds, ids, rng, ctx, variant, first, draws, event_rate)
    if noise:
        _add_noise(ds, ids, rng, draws)
    _duplicate(ds, rng)
    return ds


def _expose(ds: Dataset, ids: _Ids, ctx: tuple[str, str], variant: str, ts: int, flag: str) -> None:
    env = ds.spec.environment_id
    ds.exposures.append(
        ExposureMsg(
            event_id=ids(),
            environment_id=env,
            flag_key=flag,
            variant_key=variant,
            context_type=ctx[0],
            context_key=ctx[1],
            sequence=7,
            timestamp_ms=ts,
        )
    )


def _events(
    ds: Dataset,
    ids: _Ids,
    rng: np.random.Generator,
    ctx: tuple[str, str],
    variant: str,
    first: int,
    draws: Mapping[str, Draw],
    rate: float,
    env: str | None = None,
) -> None:
    for metric, draw in draws.items():
        for _ in range(int(rng.poisson(rate))):
            ts = int(rng.integers(first - 3_600_000, END + 3_600_000))  # some before exposure, some after END
            ds.events.append(
                MetricEventMsg(
                    event_id=ids(),
                    environment_id=env or ds.spec.environment_id,
                    metric_key=metric,
                    context_type=ctx[0],
                    context_key=ctx[1],
                    value=draw(rng, variant),
                    timestamp_ms=ts,
                    received_at_ms=ts + 5,
                )
            )


def _add_noise(ds: Dataset, ids: _Ids, rng: np.random.Generator, draws: Mapping[str, Draw]) -> None:
    """Exposures before START, to another flag and in another environment; none may count."""
    control = ds.spec.control_variant
    for i in range(20):
        ctx = ("user", f"noise-{i}")
        ts = START - int(rng.integers(1, 10**8))
        _expose(ds, ids, ctx, control, ts, ds.spec.flag_key)
        _expose(ds, ids, ("user", f"other-flag-{i}"), control, START + 10, "another-flag")
        _events(ds, ids, rng, ctx, control, START, draws, 2.0)
        _events(ds, ids, rng, ("user", f"{control}-{i}"), control, START, draws, 1.0, env="elsewhere")


def _duplicate(ds: Dataset, rng: np.random.Generator) -> None:
    """Redeliveries: about 5 % of messages appear twice, identical."""
    ds.exposures += [e for e in ds.exposures if rng.random() < 0.05]
    ds.events += [e for e in ds.events if rng.random() < 0.05]


@dataclass
class Reference:
    """Per-participant values computed in plain Python from the raw messages."""

    participants: dict[str, int]
    excluded: int
    values: dict[tuple[str, str], np.ndarray]


def reference(ds: Dataset) -> Reference:
    """The issue-6 rules applied directly to the de-duplicated raw messages."""
    spec = ds.spec
    end = spec.end_ms if spec.end_ms is not None else 2**63 - 1
    seen: dict[tuple[str, str], tuple[set[str], int]] = {}
    for e in {e.event_id: e for e in ds.exposures}.values():
        if (
            e.environment_id != spec.environment_id
            or e.flag_key != spec.flag_key
            or not spec.start_ms <= e.timestamp_ms < end
            or e.variant_key not in spec.variant_keys
        ):
            continue
        variants, first = seen.get((e.context_type, e.context_key), (set(), end))
        seen[(e.context_type, e.context_key)] = (variants | {e.variant_key}, min(first, e.timestamp_ms))
    members = {ctx: (next(iter(v)), first) for ctx, (v, first) in seen.items() if len(v) == 1}
    totals: dict[tuple[tuple[str, str], str], list[float]] = {}
    for m in {m.event_id: m for m in ds.events}.values():
        ctx = (m.context_type, m.context_key)
        if m.environment_id != spec.environment_id or ctx not in members:
            continue
        if members[ctx][1] <= m.timestamp_ms < end:
            totals.setdefault((ctx, m.metric_key), []).append(1.0 if m.value is None else float(m.value))
    kinds = {m.key: m.value_type for m in spec.metrics}
    values: dict[tuple[str, str], np.ndarray] = {}
    for variant in spec.variant_keys:
        ctxs = [c for c, (v, _) in members.items() if v == variant]
        for metric, kind in kinds.items():
            per = [totals.get((c, metric), []) for c in ctxs]
            row = [float(any(x > 0 for x in xs)) if kind == "bool" else float(sum(xs)) for xs in per]
            values[(variant, metric)] = np.asarray(row, dtype=float)
    participants = {v: sum(1 for _, (w, _) in members.items() if w == v) for v in spec.variant_keys}
    return Reference(participants=participants, excluded=len(seen) - len(members), values=values)


def welch_reference(treatment: np.ndarray, control: np.ndarray) -> dict[str, float]:
    """scipy.stats.ttest_ind(equal_var=False) of treatment against control."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = stats.ttest_ind(treatment, control, equal_var=False)
        ci = res.confidence_interval(0.95)
    return {
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "df": float(res.df),
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
    }


def proportion_reference(treatment: np.ndarray, control: np.ndarray) -> dict[str, float]:
    """Two-proportion z-test by hand with scipy.stats.norm (pooled p, unpooled CI)."""
    n1, n0 = len(treatment), len(control)
    x1, x0 = float(treatment.sum()), float(control.sum())
    p1, p0 = x1 / n1, x0 / n0
    pooled = (x1 + x0) / (n1 + n0)
    with np.errstate(all="ignore"):
        z = np.float64(p1 - p0) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        half = stats.norm.ppf(0.975) * np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return {
        "statistic": float(z),
        "p_value": float(2 * stats.norm.sf(abs(z))),
        "ci_low": float(p1 - p0 - half) if half > 0 else float("nan"),
        "ci_high": float(p1 - p0 + half) if half > 0 else float("nan"),
    }
