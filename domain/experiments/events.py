"""Experiment facts; stream: the experiment's uuid4 id.

`weights` are buckets over `variant_keys` in weight_milli (sum 1000); empty means an even split.
`traffic_allocation` is the fraction of contexts enrolled, in (0, 1]. `stats_interval_minutes` is how often
the stats worker recomputes a running iteration (1..10080); events written before it existed decode with 60.
"""

from __future__ import annotations

import enum
from uuid import UUID

from domain.events import Event
from domain.experiments.schedule import DEFAULT_STATS_INTERVAL_MINUTES
from domain.flags.model import Bucket


class ExperimentStatus(enum.StrEnum):
    """The seed's ExperimentStatus without the prefix; the wire names are permanent."""

    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CONCLUDED = "CONCLUDED"


class ExperimentCreated(Event, frozen=True, kw_only=True, tag="experiment.created"):
    """A DRAFT experiment on one flag in one environment."""

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


class ExperimentUpdated(Event, frozen=True, kw_only=True, tag="experiment.updated"):
    """The editable fields after the update, all of them."""

    name: str
    description: str
    variant_keys: tuple[str, ...]
    control_variant: str
    metric_keys: tuple[str, ...] = ()
    weights: tuple[Bucket, ...] = ()
    traffic_allocation: float = 1.0
    stats_interval_minutes: int = DEFAULT_STATS_INTERVAL_MINUTES


class ExperimentStatusChanged(Event, frozen=True, kw_only=True, tag="experiment.status_changed"):
    from_status: ExperimentStatus
    to_status: ExperimentStatus
    reason: str = ""


class ExperimentIterationStarted(Event, frozen=True, kw_only=True, tag="experiment.iteration_started"):
    """An activation's iteration, with what it measures; `occurred_at` is its start."""

    iteration_id: UUID
    number: int
    variant_keys: tuple[str, ...]
    metric_keys: tuple[str, ...] = ()
    weights: tuple[Bucket, ...] = ()
    traffic_allocation: float = 1.0


class ExperimentIterationEnded(Event, frozen=True, kw_only=True, tag="experiment.iteration_ended"):
    """A pause or conclusion ended the running iteration; `occurred_at` is its end."""

    iteration_id: UUID
    number: int


class ExperimentDeleted(Event, frozen=True, kw_only=True, tag="experiment.deleted"):
    pass


ExperimentEvent = (
    ExperimentCreated
    | ExperimentUpdated
    | ExperimentStatusChanged
    | ExperimentIterationStarted
    | ExperimentIterationEnded
    | ExperimentDeleted
)
