"""Experiment intents; each names its stream by `experiment_id`."""

from __future__ import annotations

from uuid import UUID

from domain.events import Command
from domain.experiments.events import ExperimentStatus
from domain.experiments.schedule import DEFAULT_STATS_INTERVAL_MINUTES
from domain.flags.model import Bucket


class CreateExperiment(Command, frozen=True, kw_only=True, tag="experiment.create"):
    experiment_id: UUID
    environment_id: UUID
    flag_key: str
    name: str
    variant_keys: tuple[str, ...]
    control_variant: str
    description: str = ""
    metric_keys: tuple[str, ...] = ()
    weights: tuple[Bucket, ...] = ()
    traffic_allocation: float = 1.0
    stats_interval_minutes: int = DEFAULT_STATS_INTERVAL_MINUTES


class UpdateExperiment(Command, frozen=True, kw_only=True, tag="experiment.update"):
    """Replace the editable fields (which ones may change depends on the status)."""

    experiment_id: UUID
    name: str
    description: str
    variant_keys: tuple[str, ...]
    control_variant: str
    metric_keys: tuple[str, ...] = ()
    weights: tuple[Bucket, ...] = ()
    traffic_allocation: float = 1.0
    stats_interval_minutes: int = DEFAULT_STATS_INTERVAL_MINUTES
    expected_version: int | None = None


class TransitionExperiment(Command, frozen=True, kw_only=True, tag="experiment.transition"):
    experiment_id: UUID
    new_status: ExperimentStatus
    reason: str = ""
    expected_version: int | None = None


class DeleteExperiment(Command, frozen=True, kw_only=True, tag="experiment.delete"):
    experiment_id: UUID
    expected_version: int | None = None


ExperimentCommand = CreateExperiment | UpdateExperiment | TransitionExperiment | DeleteExperiment
