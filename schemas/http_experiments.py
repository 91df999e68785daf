"""HTTP bodies of the experiment routes (/v1/environments/{env_id}/experiments/...), seed shapes.

Status names are the seed's enum without its prefix: DRAFT, ACTIVE, PAUSED, CONCLUDED (input also accepts
lower case and the seed's EXPERIMENT_STATUS_* spellings). Create and update also take the seed's
CreateExperimentRequest / UpdateExperimentRequest wrapper, `{"experiment": {...}}`, and every body may
repeat the path's `environment_id` (and `id` / `experiment_id`) as the seed's messages do.
`weights` split traffic between the variants in weight_milli (sum 1000); empty means an even split.
`stats_interval_minutes` (1..10080, default 60) is how often the stats worker recomputes a running
iteration; it may change in every status but CONCLUDED.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

import msgspec

from domain.experiments.schedule import (
    DEFAULT_STATS_INTERVAL_MINUTES,
    MAX_STATS_INTERVAL_MINUTES,
    MIN_STATS_INTERVAL_MINUTES,
)
from schemas.http_body import Body, SeedRequest
from schemas.http_types import Key, Version, WeightMilli

StatsInterval = Annotated[
    int,
    msgspec.Meta(
        ge=MIN_STATS_INTERVAL_MINUTES,
        le=MAX_STATS_INTERVAL_MINUTES,
        description="Minutes between scheduled results computations of a running iteration.",
    ),
]


class WeightBody(Body, frozen=True, kw_only=True):
    variant_key: str
    weight_milli: WeightMilli


class CreateExperimentBody(Body, frozen=True, kw_only=True):
    """`control_variant` defaults to the first of `variant_keys`."""

    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id"}
    __seed_request__: ClassVar[type[SeedRequest] | None] = None  # set below (the class refers to this one)

    name: str
    flag_key: Key
    variant_keys: list[str]
    control_variant: str | None = None
    description: str = ""
    metric_keys: list[str] = []
    weights: list[WeightBody] = []
    traffic_allocation: float = 1.0
    stats_interval_minutes: StatsInterval = DEFAULT_STATS_INTERVAL_MINUTES
    environment_id: UUID | None = None


class CreateExperimentRequest(SeedRequest, frozen=True, kw_only=True):
    """The seed's CreateExperimentRequest: our create body inside `experiment`."""

    experiment: CreateExperimentBody

    def native(self) -> CreateExperimentBody:
        return self.experiment


CreateExperimentBody.__seed_request__ = CreateExperimentRequest


class UpdateExperimentBody(Body, frozen=True, kw_only=True):
    """Fields left out keep their value; what may change depends on the status."""

    __path_ids__: ClassVar[Mapping[str, str]] = {"environment_id": "env_id", "id": "experiment_id"}

    version: Version
    name: str | None = None
    description: str | None = None
    variant_keys: list[str] | None = None
    control_variant: str | None = None
    metric_keys: list[str] | None = None
    weights: list[WeightBody] | None = None
    traffic_allocation: float | None = None
    stats_interval_minutes: StatsInterval | None = None
    environment_id: UUID | None = None
    id: UUID | None = None


class UpdateExperimentRequest(SeedRequest, frozen=True, kw_only=True):
    """The seed's UpdateExperimentRequest: our update body (with `version`) inside `experiment`."""

    experiment: UpdateExperimentBody

    def native(self) -> UpdateExperimentBody:
        return self.experiment


UpdateExperimentBody.__seed_request__ = UpdateExperimentRequest


StatusName = Literal[  # the seed's names, lower case, or with the seed's EXPERIMENT_STATUS_ prefix
    "DRAFT", "ACTIVE", "PAUSED", "CONCLUDED",
    "draft", "active", "paused", "concluded",
    "EXPERIMENT_STATUS_DRAFT", "EXPERIMENT_STATUS_ACTIVE", "EXPERIMENT_STATUS_PAUSED",
    "EXPERIMENT_STATUS_CONCLUDED",
]  # fmt: skip


class TransitionBody(Body, frozen=True, kw_only=True):
    """The seed's TransitionExperimentRequest plus `version` (every change names the version it read)."""

    __proto_enums__: ClassVar[Mapping[str, str]] = {"new_status": "EXPERIMENT_STATUS_"}
    __path_ids__: ClassVar[Mapping[str, str]] = {
        "environment_id": "env_id",
        "experiment_id": "experiment_id",
    }

    new_status: StatusName
    reason: str = ""
    version: Version
    environment_id: UUID | None = None
    experiment_id: UUID | None = None


class WeightView(msgspec.Struct, frozen=True, kw_only=True):
    variant_key: str
    weight_milli: int


class ExperimentView(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's Experiment plus metric keys, traffic allocation, stats interval and the store position."""

    id: UUID
    environment_id: UUID
    name: str
    description: str
    flag_key: str
    status: str
    variant_keys: list[str]
    control_variant: str
    weights: list[WeightView]
    metric_keys: list[str]
    traffic_allocation: float
    stats_interval_minutes: int
    created_at_ms: int
    updated_at_ms: int
    version: int
    position: int


class ExperimentList(msgspec.Struct, frozen=True, kw_only=True):
    experiments: list[ExperimentView]


class IterationView(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's ExperimentIteration; `ended_at_ms` is 0 while the iteration runs."""

    id: UUID
    experiment_id: UUID
    iteration_number: int
    started_at_ms: int
    ended_at_ms: int
    metric_keys: list[str]
    variant_keys: list[str]
    traffic_allocation: float


class IterationList(msgspec.Struct, frozen=True, kw_only=True):
    iterations: list[IterationView]


class VariantResultView(msgspec.Struct, frozen=True, kw_only=True):
    variant_key: str
    participant_count: int
    metric_values: dict[str, float]
    p_value: float = 0.0
    p_value_present: bool = False


class ResultsView(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's ExperimentResults; `computation_status` is "pending" until the stats worker writes one.
    `details` carries effects, confidence intervals and the SRM check when present."""

    experiment_id: UUID
    variant_results: list[VariantResultView]
    computed_at_ms: int
    is_stale: bool
    next_run_at_ms: int
    computation_status: str
    iteration_number: int = 0
    details: dict[str, Any] = {}


class StatsJobView(msgspec.Struct, frozen=True, kw_only=True):
    """The seed's TriggerRecomputeResponse / GetJobStatusResponse in one shape."""

    job_id: UUID
    experiment_id: UUID
    status: str
    created_at_ms: int
    started_at_ms: int
    completed_at_ms: int
    error: str


class DeletedExperiment(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    deleted: bool
    position: int
