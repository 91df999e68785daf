"""Experiments: DRAFT -> ACTIVE <-> PAUSED -> CONCLUDED, iterations, editing and deletion rules."""

from __future__ import annotations

import itertools
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.codec import decode_event
from domain.errors import (
    DuplicateMetricKey,
    DuplicateVariantKey,
    ExperimentAlreadyExists,
    ExperimentNotDeletable,
    ExperimentNotEditable,
    ExperimentNotFound,
    FlagNotFound,
    IllegalTransition,
    InvalidStatsInterval,
    InvalidTrafficAllocation,
    TooFewVariants,
    UnknownMetric,
    UnknownVariant,
    WeightsNotSummingTo100,
)
from domain.experiments import experiment as xp
from domain.experiments.commands import (
    CreateExperiment,
    DeleteExperiment,
    TransitionExperiment,
    UpdateExperiment,
)
from domain.experiments.events import (
    ExperimentCreated,
    ExperimentIterationEnded,
    ExperimentIterationStarted,
    ExperimentStatus,
    ExperimentStatusChanged,
    ExperimentUpdated,
)
from domain.experiments.experiment import TRANSITIONS, Experiment, evolve, iteration_id, replay
from domain.flags.model import Bucket
from tests.unit.domain.harness import NOW, Step, at, current, drive, round_trip

S = ExperimentStatus
EXP, ENV = uuid4(), uuid4()
FLAG_VARIANTS = frozenset({"control", "treat", "other"})
METRICS = frozenset({"purchase", "clicks"})


def _cmd() -> UUID:
    return uuid4()


def _create(**kw: object) -> CreateExperiment:
    fields: dict[str, object] = {
        "command_id": _cmd(),
        "experiment_id": EXP,
        "environment_id": ENV,
        "flag_key": "checkout",
        "name": "Checkout test",
        "variant_keys": ("control", "treat"),
        "control_variant": "control",
        "metric_keys": ("purchase",),
    }
    return CreateExperiment(**{**fields, **kw})  # type: ignore[arg-type]


def _draft() -> Experiment:
    events = xp.create_experiment(None, _create(), NOW, flag_variants=FLAG_VARIANTS, known_metrics=METRICS)
    return current(events, replay)


def _go(state: Experiment, status: ExperimentStatus, minute: int = 1) -> Experiment:
    cmd = TransitionExperiment(command_id=_cmd(), experiment_id=EXP, new_status=status)
    for event in xp.transition_experiment(state, cmd, at(minute)):
        state = evolve(state, event)
    return state


def _update(state: Experiment, **kw: object) -> UpdateExperiment:
    fields = {
        f: getattr(state, f)
        for f in (
            "name",
            "description",
            "variant_keys",
            "control_variant",
            "metric_keys",
            "weights",
            "traffic_allocation",
            "stats_interval_minutes",
        )
    }
    return UpdateExperiment(command_id=_cmd(), experiment_id=EXP, **{**fields, **kw})


def test_a_new_experiment_is_a_draft_without_iterations() -> None:
    state = _draft()
    assert (state.status, state.iterations, state.created_at, state.version) == (S.DRAFT, (), NOW, 1)
    with pytest.raises(ExperimentAlreadyExists):
        xp.create_experiment(state, _create(), NOW, flag_variants=FLAG_VARIANTS, known_metrics=METRICS)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"variant_keys": ("control",)}, TooFewVariants),
        ({"variant_keys": ("control", "control")}, DuplicateVariantKey),
        ({"variant_keys": ("control", "ghost")}, UnknownVariant),
        ({"control_variant": "other"}, UnknownVariant),
        ({"metric_keys": ("purchase", "purchase")}, DuplicateMetricKey),
        ({"metric_keys": ("ghost",)}, UnknownMetric),
        ({"weights": (Bucket("control", 500), Bucket("treat", 400))}, WeightsNotSummingTo100),
        ({"traffic_allocation": 0.0}, InvalidTrafficAllocation),
        ({"traffic_allocation": 1.5}, InvalidTrafficAllocation),
        ({"stats_interval_minutes": 0}, InvalidStatsInterval),
        ({"stats_interval_minutes": -5}, InvalidStatsInterval),
        ({"stats_interval_minutes": 10081}, InvalidStatsInterval),
        ({"stats_interval_minutes": True}, InvalidStatsInterval),
        ({"stats_interval_minutes": 5.0}, InvalidStatsInterval),
    ],
)
def test_broken_experiments_are_refused(changes: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        xp.create_experiment(
            None, _create(**changes), NOW, flag_variants=FLAG_VARIANTS, known_metrics=METRICS
        )


def test_an_experiment_needs_its_flag() -> None:
    with pytest.raises(FlagNotFound):
        xp.create_experiment(None, _create(), NOW, flag_variants=None, known_metrics=METRICS)


def test_each_activation_starts_an_iteration_and_each_pause_or_conclusion_ends_it() -> None:
    state = _go(_draft(), S.ACTIVE, 1)
    assert state.running_iteration is not None
    assert state.running_iteration.number == 1
    assert state.running_iteration.id == iteration_id(EXP, 1)
    assert state.running_iteration.metric_keys == ("purchase",)
    assert state.running_iteration.started_at == at(1)
    state = _go(state, S.PAUSED, 2)
    assert state.running_iteration is None
    assert state.iterations[0].ended_at == at(2)
    state = _go(_go(state, S.ACTIVE, 3), S.CONCLUDED, 4)
    assert [(i.number, i.started_at, i.ended_at) for i in state.iterations] == [
        (1, at(1), at(2)),
        (2, at(3), at(4)),
    ]
    assert state.status is S.CONCLUDED


def test_transition_events_come_in_order() -> None:
    draft = _draft()
    start = xp.transition_experiment(
        draft,
        TransitionExperiment(command_id=_cmd(), experiment_id=EXP, new_status=S.ACTIVE, reason="go"),
        NOW,
    )
    assert [type(e) for e in start] == [ExperimentStatusChanged, ExperimentIterationStarted]
    active = _go(draft, S.ACTIVE)
    stop = xp.transition_experiment(
        active, TransitionExperiment(command_id=_cmd(), experiment_id=EXP, new_status=S.CONCLUDED), NOW
    )
    assert [type(e) for e in stop] == [ExperimentIterationEnded, ExperimentStatusChanged]


@pytest.mark.parametrize(
    "path", [(S.CONCLUDED,), (S.ACTIVE, S.DRAFT), (S.PAUSED,), (S.ACTIVE, S.CONCLUDED, S.ACTIVE)]
)
def test_illegal_transitions_are_refused(path: tuple[ExperimentStatus, ...]) -> None:
    state = _draft()
    for status in path[:-1]:
        state = _go(state, status)
    with pytest.raises(IllegalTransition):
        xp.transition_experiment(
            state, TransitionExperiment(command_id=_cmd(), experiment_id=EXP, new_status=path[-1]), NOW
        )


def test_what_may_change_depends_on_the_status() -> None:
    draft = _draft()
    assert xp.update_experiment(draft, _update(draft), NOW) == []
    changed = xp.update_experiment(
        draft, _update(draft, variant_keys=("control", "other")), NOW, flag_variants=FLAG_VARIANTS
    )
    assert evolve(draft, changed[0]).variant_keys == ("control", "other")
    active = _go(draft, S.ACTIVE)
    assert xp.update_experiment(active, _update(active, name="Renamed"), NOW)
    with pytest.raises(ExperimentNotEditable):
        xp.update_experiment(active, _update(active, metric_keys=("clicks",)), NOW, known_metrics=METRICS)
    paused = _go(active, S.PAUSED)
    more = xp.update_experiment(
        paused,
        _update(paused, metric_keys=("purchase", "clicks"), traffic_allocation=0.5),
        NOW,
        known_metrics=METRICS,
    )
    resumed = _go(evolve(paused, more[0]), S.ACTIVE)
    assert resumed.iterations[-1].metric_keys == ("purchase", "clicks")
    assert resumed.iterations[-1].traffic_allocation == 0.5
    with pytest.raises(ExperimentNotEditable):
        xp.update_experiment(
            paused, _update(paused, control_variant="treat"), NOW, flag_variants=FLAG_VARIANTS
        )
    concluded = _go(paused, S.CONCLUDED)
    with pytest.raises(ExperimentNotEditable):
        xp.update_experiment(concluded, _update(concluded, name="x"), NOW)


def test_only_drafts_and_concluded_experiments_can_be_deleted() -> None:
    delete = DeleteExperiment(command_id=_cmd(), experiment_id=EXP)
    for status in (S.ACTIVE, S.PAUSED):
        state = _go(_draft(), S.ACTIVE)
        state = _go(state, status)
        with pytest.raises(ExperimentNotDeletable):
            xp.delete_experiment(state, delete, NOW)
    gone = evolve(_draft(), xp.delete_experiment(_draft(), delete, NOW)[0])
    with pytest.raises(ExperimentNotFound):
        xp.transition_experiment(
            gone, TransitionExperiment(command_id=_cmd(), experiment_id=EXP, new_status=S.ACTIVE), NOW
        )
    concluded = _go(_go(_draft(), S.ACTIVE), S.CONCLUDED)
    assert xp.delete_experiment(concluded, delete, NOW)


def _transition(status: ExperimentStatus, minute: int) -> Step:
    return lambda s: xp.transition_experiment(
        s, TransitionExperiment(command_id=_cmd(), experiment_id=EXP, new_status=status), at(minute)
    )


def _edit(name: str, metrics: tuple[str, ...]) -> Step:
    return lambda s: xp.update_experiment(
        s, _update(s, name=name, metric_keys=metrics), NOW, known_metrics=METRICS
    )


machine_steps = st.one_of(
    st.builds(_transition, st.sampled_from(S), st.integers(0, 1000)),
    st.builds(
        _edit, st.sampled_from(["A", "B"]), st.sampled_from([(), ("purchase",), ("clicks", "purchase")])
    ),
)


@settings(max_examples=200)
@given(st.lists(machine_steps, max_size=20))
def test_random_transition_sequences_keep_the_machine_and_iterations_consistent(steps: list[Step]) -> None:
    create: Step = lambda s: xp.create_experiment(  # noqa: E731
        s, _create(), NOW, flag_variants=FLAG_VARIANTS, known_metrics=METRICS
    )
    run = drive([create, *steps], evolve, replay)
    state: Experiment = run.state
    changes = [e for e in run.history if isinstance(e, ExperimentStatusChanged)]
    assert all((c.from_status, c.to_status) in TRANSITIONS for c in changes)
    assert all(a.to_status == b.from_status for a, b in itertools.pairwise(changes))
    activations = sum(c.to_status is S.ACTIVE for c in changes)
    assert [i.number for i in state.iterations] == list(range(1, activations + 1))
    assert (state.status is S.ACTIVE) == (state.running_iteration is not None)
    assert all(i.ended_at is not None for i in state.iterations[:-1])
    if any(c.to_status is S.CONCLUDED for c in changes):
        assert state.status is S.CONCLUDED
    assert all(isinstance(e, IllegalTransition | ExperimentNotEditable) for e in run.refused)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(S), max_size=20))
def test_transitions_are_refused_exactly_when_the_machine_has_no_such_edge(
    moves: list[ExperimentStatus],
) -> None:
    state, model, activations = _draft(), S.DRAFT, 0
    for minute, status in enumerate(moves, start=1):
        cmd = TransitionExperiment(command_id=_cmd(), experiment_id=EXP, new_status=status)
        if status != model and (model, status) not in TRANSITIONS:
            with pytest.raises(IllegalTransition):
                xp.transition_experiment(state, cmd, at(minute))
            continue
        for event in xp.transition_experiment(state, cmd, at(minute)):
            state = evolve(state, event)
        activations += status is S.ACTIVE and model is not S.ACTIVE
        model = status
        assert state.status is model
        assert len(state.iterations) == activations
        assert (model is S.ACTIVE) == (state.running_iteration is not None)


def test_a_new_experiment_is_computed_hourly_unless_told_otherwise() -> None:
    assert _draft().stats_interval_minutes == 60
    events = xp.create_experiment(
        None, _create(stats_interval_minutes=5), NOW, flag_variants=FLAG_VARIANTS, known_metrics=METRICS
    )
    assert current(round_trip(events), replay).stats_interval_minutes == 5


@settings(max_examples=100)
@given(st.integers(-100, 20_000))
def test_the_stats_interval_is_accepted_exactly_from_one_minute_to_one_week(minutes: int) -> None:
    create = _create(stats_interval_minutes=minutes)
    if 1 <= minutes <= 7 * 24 * 60:
        events = xp.create_experiment(None, create, NOW, flag_variants=FLAG_VARIANTS, known_metrics=METRICS)
        assert current(events, replay).stats_interval_minutes == minutes
    else:
        with pytest.raises(InvalidStatsInterval):
            xp.create_experiment(None, create, NOW, flag_variants=FLAG_VARIANTS, known_metrics=METRICS)


def test_the_stats_interval_may_change_until_the_experiment_is_concluded() -> None:
    state = _draft()
    for status in (S.DRAFT, S.ACTIVE, S.PAUSED):
        state = _go(state, status)
        minutes = state.stats_interval_minutes + 7
        [updated] = xp.update_experiment(state, _update(state, stats_interval_minutes=minutes), NOW)
        state = evolve(state, updated)
        assert state.stats_interval_minutes == minutes
        with pytest.raises(InvalidStatsInterval):
            xp.update_experiment(state, _update(state, stats_interval_minutes=0), NOW)
    concluded = _go(state, S.CONCLUDED)
    with pytest.raises(ExperimentNotEditable):
        xp.update_experiment(concluded, _update(concluded, stats_interval_minutes=15), NOW)


def test_events_and_states_written_before_the_stats_interval_existed_decode_with_sixty() -> None:
    old_created = {
        "stream_id": str(EXP), "version": 1, "occurred_at": NOW.isoformat(), "environment_id": str(ENV),
        "flag_key": "checkout", "name": "Old", "variant_keys": ["control", "treat"],
        "control_variant": "control",
    }  # fmt: skip
    old_updated = {
        "stream_id": str(EXP), "version": 2, "occurred_at": NOW.isoformat(), "name": "Older",
        "description": "", "variant_keys": ["control", "treat"], "control_variant": "treat",
    }  # fmt: skip
    created = decode_event("experiment.created", msgspec.json.encode(old_created))
    updated = decode_event("experiment.updated", msgspec.json.encode(old_updated))
    assert isinstance(created, ExperimentCreated)
    assert isinstance(updated, ExperimentUpdated)
    state = current([created, updated], replay)
    assert (created.stats_interval_minutes, updated.stats_interval_minutes) == (60, 60)
    assert (state.name, state.stats_interval_minutes) == ("Older", 60)
    # The read model keeps the folded state as JSON; a row folded before the field existed still loads.
    old_state = msgspec.to_builtins(state)
    del old_state["stats_interval_minutes"]
    reloaded = msgspec.json.decode(msgspec.json.encode(old_state), type=Experiment)
    assert reloaded == state
