"""Every Stitchd Prometheus metric family, and the one-line helpers the layers call to record.

All families live in `REGISTRY`, created at import (creating a family connects to nothing); recording
does nothing until a composition root calls `configure(enabled=True)` (ENABLE_METRICS, on by default),
so a process run with ENABLE_METRICS=false pays one boolean test per call site.

Label cardinality is bounded: HTTP routes are labelled by route template, never the raw path;
evaluations by (environment, flag, variant) keep at most `max_flag_series` distinct series, after which
new combinations count under flag="_other" (see `BoundedLabels`). Unknown flags count as "_unknown".

Hook-ups for counters other layers add later are one call each: `count_dead_lettered(kind)`,
`count_exposure_dropped()`, `count_relay_unpublishable()`, `count_login_throttled()`.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, exposition

REGISTRY = CollectorRegistry(auto_describe=True)
DEFAULT_MAX_FLAG_SERIES = 10_000
OTHER = "_other"
UNKNOWN = "_unknown"
CONTENT_TYPE = exposition.CONTENT_TYPE_LATEST

_ns = "stitchd"
HTTP_REQUESTS = Counter(
    "http_requests", "HTTP requests answered", ["route", "method", "status"], namespace=_ns, registry=REGISTRY
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by route template",
    ["route", "method"],
    namespace=_ns,
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVALUATIONS = Counter(
    "evaluations",
    "Flag evaluations served",
    ["environment", "flag", "variant"],
    namespace=_ns,
    registry=REGISTRY,
)
SYNC_OPEN_STREAMS = Gauge("sync_open_streams", "Open SDK sync streams", namespace=_ns, registry=REGISTRY)
SYNC_MESSAGES = Counter(
    "sync_messages_sent", "Sync messages sent to SDKs", ["kind"], namespace=_ns, registry=REGISTRY
)
RELAY_LAG = Gauge(
    "relay_lag_events",
    "Event store head position minus the relay's published cursor",
    namespace=_ns,
    registry=REGISTRY,
)
PROJECTION_LAG = Gauge(
    "projection_lag_events",
    "Event store head position minus the projection's checkpoint",
    ["projection"],
    namespace=_ns,
    registry=REGISTRY,
)
INGEST = Counter(
    "ingest_events", "Ingest messages by outcome", ["kind", "outcome"], namespace=_ns, registry=REGISTRY
)
JOB_DURATION = Histogram(
    "stats_job_duration_seconds",
    "Stats worker job duration",
    ["job"],
    namespace=_ns,
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
JOB_FAILURES = Counter(
    "stats_job_failures", "Stats worker job failures", ["job"], namespace=_ns, registry=REGISTRY
)
RATE_LIMIT = Counter(
    "rate_limit_decisions",
    "Rate limiter and concurrency limiter decisions",
    ["limiter", "decision"],
    namespace=_ns,
    registry=REGISTRY,
)
EXPOSURES_DROPPED = Counter(
    "exposure_buffer_dropped", "Exposures dropped by a full buffer", namespace=_ns, registry=REGISTRY
)
RELAY_UNPUBLISHABLE = Counter(
    "relay_unpublishable_events",
    "Stored events the relay could not publish",
    namespace=_ns,
    registry=REGISTRY,
)
LOGIN_THROTTLED = Counter(
    "login_throttled", "Logins refused by the throttle", namespace=_ns, registry=REGISTRY
)


class BoundedLabels:
    """Admits at most `limit` distinct label tuples; later new ones map to `fallback` (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def admit(self, labels: tuple[str, ...], fallback: tuple[str, ...]) -> tuple[str, ...]:
        if labels in self._seen:
            return labels
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(labels)
                return labels
        return fallback


class _State:
    enabled = False
    flag_series = BoundedLabels(DEFAULT_MAX_FLAG_SERIES)


def configure(*, enabled: bool, max_flag_series: int = DEFAULT_MAX_FLAG_SERIES) -> None:
    """Switch recording on or off for this Python process (composition roots call it at start)."""
    _State.enabled = enabled
    if max_flag_series != _State.flag_series.limit:
        _State.flag_series = BoundedLabels(max_flag_series)


def enabled() -> bool:
    return _State.enabled


def render() -> bytes:
    """The text exposition of every family."""
    return exposition.generate_latest(REGISTRY)


def observe_http(route: str, method: str, status: int, seconds: float) -> None:
    if _State.enabled:
        HTTP_REQUESTS.labels(route, method, str(status)).inc()
        HTTP_DURATION.labels(route, method).observe(seconds)


def count_evaluation(environment: str, flag: str | None, variant: str | None) -> None:
    """One evaluation; `flag` None means the key named no flag (never a client-chosen label)."""
    if _State.enabled:
        labels = (environment, UNKNOWN if flag is None else flag, variant or "")
        env, key, var = _State.flag_series.admit(labels, (environment, OTHER, OTHER))
        EVALUATIONS.labels(env, key, var).inc()


def set_open_streams(count: int) -> None:
    if _State.enabled:
        SYNC_OPEN_STREAMS.set(count)


def count_sync_message(kind: str) -> None:
    """kind: snapshot, delta or heartbeat."""
    if _State.enabled:
        SYNC_MESSAGES.labels(kind).inc()


def set_relay_lag(events: int) -> None:
    if _State.enabled:
        RELAY_LAG.set(events)


def set_projection_lag(projection: str, events: int) -> None:
    if _State.enabled:
        PROJECTION_LAG.labels(projection).set(events)


def count_ingest(kind: str, outcome: str, n: int = 1) -> None:
    """outcome: accepted, rejected or dead_lettered."""
    if _State.enabled and n:
        INGEST.labels(kind, outcome).inc(n)


def count_dead_lettered(kind: str, n: int = 1) -> None:
    count_ingest(kind, "dead_lettered", n)


def observe_job(job: str, seconds: float, *, failed: bool) -> None:
    if _State.enabled:
        JOB_DURATION.labels(job).observe(seconds)
        if failed:
            JOB_FAILURES.labels(job).inc()


def count_rate_limit(limiter: str, decision: str) -> None:
    """limiter: ip, credential or concurrency; decision: allowed, limited or log_only."""
    if _State.enabled:
        RATE_LIMIT.labels(limiter, decision).inc()


def count_exposure_dropped(n: int = 1) -> None:
    if _State.enabled:
        EXPOSURES_DROPPED.inc(n)


def count_relay_unpublishable(n: int = 1) -> None:
    if _State.enabled:
        RELAY_UNPUBLISHABLE.inc(n)


def count_login_throttled() -> None:
    if _State.enabled:
        LOGIN_THROTTLED.inc()
