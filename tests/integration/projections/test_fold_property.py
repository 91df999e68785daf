"""Every aggregate read model is the domain's fold of its stream (DESIGN section 12, STYLE "which
projection shape to copy").

Random command sequences over flags, flag configurations, segments, event definitions and experiments
are decided by the domain's deciders against the replayed stream and appended to the real Postgres
store; the relay and the projector run as in production. Once the projector has caught up, every
`rm_*` row is compared with `replay` of its stream as loaded from the store (and a deleted or absent
aggregate has no row).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.encoding import load_stream, to_new_events
from domain.codec import stream_type_of
from domain.conditions.ast import Attribute, Condition, Leaf, Op
from domain.envelope import Metadata
from domain.errors import DomainError
from domain.event_definitions import event_definition as evd
from domain.event_definitions.commands import (
    CreateEventDefinition,
    DeleteEventDefinition,
    UpdateEventDefinition,
)
from domain.event_definitions.events import MetricValueType
from domain.events import Event
from domain.experiments import experiment as exp
from domain.experiments.commands import (
    CreateExperiment,
    DeleteExperiment,
    TransitionExperiment,
    UpdateExperiment,
)
from domain.experiments.events import ExperimentStatus
from domain.flags import flag as dfn
from domain.flags import flag_config as cfg
from domain.flags.commands import (
    AddVariant,
    ArchiveFlag,
    ConfigureFlag,
    CreateFlag,
    DeleteFlag,
    DeleteFlagConfig,
    RemoveVariant,
    RestoreFlag,
    UpdateFlagDetails,
)
from domain.flags.model import FlagConfig, FlagDefinition, Rule, Serve, ValueType, Variant
from domain.flags.validation import segment_refs, served_variants
from domain.segments import segment as seg
from domain.segments.commands import (
    AddSegmentMembers,
    CreateSegment,
    DeleteSegment,
    RemoveSegmentMembers,
    ReplaceSegmentCondition,
    UpdateSegment,
)
from domain.segments.events import (
    SegmentCreated,
    SegmentDeleted,
    SegmentKind,
    SegmentMembersAdded,
    SegmentMembersCleared,
    SegmentMembersRemoved,
)
from tests.stack import Stack

pytestmark = pytest.mark.integration

FLAGS = ("fa", "fb")
SEGMENTS = ("sa", "sb")
METRICS = ("ma", "mb")
EXPERIMENTS = (0, 1)
PEOPLE = ("u1", "u2", "u3")
VARIANTS = (Variant(key="on", value="on"), Variant(key="off", value="off"))
EXTRA = Variant(key="v3", value="v3")
T0 = datetime(2026, 12, 1, tzinfo=UTC)
STATUSES = (ExperimentStatus.ACTIVE, ExperimentStatus.PAUSED, ExperimentStatus.CONCLUDED)

Op_ = tuple[Any, ...]  # (operation name, its arguments...)
ops = st.one_of(
    st.tuples(
        st.just("flag"),
        st.sampled_from(["create", "archive", "restore", "delete", "add", "remove"]),
        st.sampled_from(FLAGS),
    ),
    st.tuples(st.just("flag_details"), st.sampled_from(FLAGS), st.sampled_from(["", "Checkout", "Banner"])),
    st.tuples(
        st.just("config"),
        st.sampled_from(FLAGS),
        st.booleans(),
        st.sampled_from(["on", "off"]),
        st.none() | st.sampled_from(SEGMENTS),
    ),
    st.tuples(st.just("segment"), st.sampled_from(["rule", "list", "delete"]), st.sampled_from(SEGMENTS)),
    st.tuples(st.just("segment_details"), st.sampled_from(SEGMENTS), st.sampled_from(["", "Beta"])),
    st.tuples(st.just("condition"), st.sampled_from(SEGMENTS), st.sampled_from(["free", "pro"])),
    st.tuples(
        st.just("members"),
        st.sampled_from(["add", "remove"]),
        st.sampled_from(SEGMENTS),
        st.lists(st.sampled_from(PEOPLE), max_size=2),
        st.lists(st.sampled_from(PEOPLE), max_size=1),
    ),
    st.tuples(st.just("metric"), st.sampled_from(["create", "update", "delete"]), st.sampled_from(METRICS)),
    st.tuples(
        st.just("experiment"), st.sampled_from(["create", "update", "delete"]), st.sampled_from(EXPERIMENTS)
    ),
    st.tuples(st.just("transition"), st.sampled_from(EXPERIMENTS), st.sampled_from(STATUSES)),
)


@dataclass
class World:
    """One fresh organisation/project/environment per example, deciding commands like the handlers do."""

    store: Any
    org: UUID = field(default_factory=uuid4)
    project: UUID = field(default_factory=uuid4)
    env: UUID = field(default_factory=uuid4)
    experiments: tuple[UUID, UUID] = field(default_factory=lambda: (uuid4(), uuid4()))
    ticks: itertools.count[int] = field(default_factory=itertools.count)
    last: int = 0

    def now(self) -> datetime:
        return T0 + timedelta(seconds=next(self.ticks))

    async def events(self, stream: UUID) -> list[Any]:
        return await load_stream(self.store, stream)

    async def decide(self, stream: UUID, decide: Callable[[Any], Sequence[Event]], fold: Any) -> None:
        """Replay, decide and append at the replayed version; a refused command appends nothing."""
        history = await self.events(stream)
        try:
            new = list(decide(fold(history)))
        except DomainError:
            return
        if not new:
            return
        metadata = Metadata(actor="prop", org_id=self.org, project_id=self.project, environment_id=self.env)
        written = await self.store.append(
            stream, stream_type_of(new[0]), len(history), to_new_events(new), metadata=metadata
        )
        self.last = max(self.last, written.last_position)

    async def flag(self, key: str) -> dfn.Flag | None:
        return dfn.replay(await self.events(dfn.flag_stream(self.project, key)))

    async def config(self, key: str) -> cfg.FlagEnvConfig | None:
        return cfg.replay(await self.events(cfg.flag_config_stream(self.env, key)))

    async def live_segments(self) -> frozenset[str]:
        found = [(k, seg.replay(await self.events(seg.segment_stream(self.env, k)))) for k in SEGMENTS]
        return frozenset(k for k, s in found if s is not None and not s.deleted)

    async def live_metrics(self) -> frozenset[str]:
        found = [
            (k, evd.replay(await self.events(evd.event_definition_stream(self.env, k)))) for k in METRICS
        ]
        return frozenset(k for k, d in found if d is not None and not d.deleted)


def _config(enabled: bool, off: str, segment: str | None) -> FlagConfig:
    rules: tuple[Rule, ...] = ()
    if segment is not None:
        condition: Condition = Leaf(Attribute("user"), Op.IN_SEGMENT, segment)
        rules = (Rule(id="r1", condition=condition, serve=Serve(variant_key="off")),)
    return FlagConfig(enabled=enabled, off_variant=off, fallthrough=Serve(variant_key="on"), rules=rules)


async def _flag_op(w: World, what: str, key: str) -> None:
    now, c, p = w.now(), uuid4(), w.project
    stream = dfn.flag_stream(p, key)
    config = await w.config(key)
    in_use = served_variants(config.config) if config is not None and not config.deleted else frozenset()
    deciders: dict[str, Callable[[Any], Sequence[Event]]] = {
        "create": lambda s: dfn.create_flag(
            s,
            CreateFlag(command_id=c, project_id=p, key=key, value_type=ValueType.STRING, variants=VARIANTS),
            now,
        ),
        "archive": lambda s: dfn.archive_flag(s, ArchiveFlag(command_id=c, project_id=p, key=key), now),
        "restore": lambda s: dfn.restore_flag(s, RestoreFlag(command_id=c, project_id=p, key=key), now),
        "delete": lambda s: dfn.delete_flag(s, DeleteFlag(command_id=c, project_id=p, key=key), now),
        "add": lambda s: dfn.add_variant(
            s, AddVariant(command_id=c, project_id=p, key=key, variant=EXTRA), now
        ),
        "remove": lambda s: dfn.remove_variant(
            s, RemoveVariant(command_id=c, project_id=p, key=key, variant_key=EXTRA.key), now, in_use=in_use
        ),
    }
    await w.decide(stream, deciders[what], dfn.replay)
    if what == "delete":  # as the handler does: every configuration of the flag goes with it
        drop = DeleteFlagConfig(command_id=uuid4(), project_id=p, environment_id=w.env, key=key)
        await w.decide(
            cfg.flag_config_stream(w.env, key), lambda s: cfg.delete_flag_config(s, drop, now), cfg.replay
        )


async def _segment_op(w: World, what: str, key: str) -> None:
    now, stream = w.now(), seg.segment_stream(w.env, key)
    if what == "delete":
        flags = [await w.config(k) for k in FLAGS]
        users = frozenset(
            c.key
            for c in flags
            if c is not None and not c.deleted
            for r in c.config.rules
            if key in segment_refs(r.condition)
        )
        cmd = DeleteSegment(command_id=uuid4(), environment_id=w.env, key=key)
        await w.decide(stream, lambda s: seg.delete_segment(s, cmd, now, referenced_by=users), seg.replay)
        return
    rule = what == "rule"
    create = CreateSegment(
        command_id=uuid4(),
        environment_id=w.env,
        key=key,
        kind=SegmentKind("rule" if rule else "list"),
        context_type="user",
        condition=Leaf(Attribute("user", "plan"), Op.EQ, "free") if rule else None,
        included=() if rule else ("u1",),
    )
    await w.decide(stream, lambda s: seg.create_segment(s, create, now), seg.replay)


async def _experiment_op(w: World, what: str, index: int) -> None:
    now, xid = w.now(), w.experiments[index]
    flag = await w.flag("fa")
    variants = flag.variant_keys if flag is not None and not flag.deleted else None
    metrics = await w.live_metrics()
    chosen = tuple(sorted(metrics))[:1]
    deciders: dict[str, Callable[[Any], Sequence[Event]]] = {
        "create": lambda s: exp.create_experiment(
            s,
            CreateExperiment(
                command_id=uuid4(),
                experiment_id=xid,
                environment_id=w.env,
                flag_key="fa",
                name="exp",
                variant_keys=("on", "off"),
                control_variant="on",
                metric_keys=chosen,
            ),
            now,
            flag_variants=variants,
            known_metrics=metrics,
        ),
        "update": lambda s: exp.update_experiment(
            s,
            UpdateExperiment(
                command_id=uuid4(),
                experiment_id=xid,
                name=f"exp {now.second}",
                description="",
                variant_keys=s.variant_keys if s else ("on", "off"),
                control_variant="on",
                metric_keys=s.metric_keys if s else (),
            ),
            now,
            flag_variants=variants,
            known_metrics=metrics,
        ),
        "delete": lambda s: exp.delete_experiment(
            s, DeleteExperiment(command_id=uuid4(), experiment_id=xid), now
        ),
    }
    await w.decide(xid, deciders[what], exp.replay)


async def _flag_details(w: World, key: str, name: str) -> None:
    cmd = UpdateFlagDetails(command_id=uuid4(), project_id=w.project, key=key, name=name, description="")
    now = w.now()
    await w.decide(
        dfn.flag_stream(w.project, key), lambda s: dfn.update_flag_details(s, cmd, now), dfn.replay
    )


async def _configure(w: World, key: str, enabled: bool, off: str, segment: str | None) -> None:
    flag, segments, now = await w.flag(key), await w.live_segments(), w.now()
    cmd = ConfigureFlag(
        command_id=uuid4(),
        project_id=w.project,
        environment_id=w.env,
        key=key,
        config=_config(enabled, off, segment),
    )
    await w.decide(
        cfg.flag_config_stream(w.env, key),
        lambda s: cfg.change_config(s, cmd, now, flag=flag, segment_keys=segments),
        cfg.replay,
    )


async def _segment_details(w: World, key: str, name: str) -> None:
    now = w.now()
    cmd = UpdateSegment(
        command_id=uuid4(), environment_id=w.env, key=key, name=name, description="", context_type="user"
    )
    await w.decide(seg.segment_stream(w.env, key), lambda s: seg.update_segment(s, cmd, now), seg.replay)


async def _condition(w: World, key: str, plan: str) -> None:
    now, condition = w.now(), Leaf(Attribute("user", "plan"), Op.EQ, plan)
    cmd = ReplaceSegmentCondition(command_id=uuid4(), environment_id=w.env, key=key, condition=condition)
    await w.decide(seg.segment_stream(w.env, key), lambda s: seg.replace_condition(s, cmd, now), seg.replay)


async def _members_op(w: World, what: str, key: str, included: list[str], excluded: list[str]) -> None:
    now, stream = w.now(), seg.segment_stream(w.env, key)
    fields = {"environment_id": w.env, "key": key, "included": tuple(included), "excluded": tuple(excluded)}
    if what == "add":
        add = AddSegmentMembers(command_id=uuid4(), **fields)  # type: ignore[arg-type]
        await w.decide(stream, lambda s: seg.add_members(s, add, now), seg.replay)
    else:
        remove = RemoveSegmentMembers(command_id=uuid4(), **fields)  # type: ignore[arg-type]
        await w.decide(stream, lambda s: seg.remove_members(s, remove, now), seg.replay)


async def _metric_op(w: World, what: str, key: str) -> None:
    now, env = w.now(), w.env
    deciders: dict[str, Callable[[Any], Sequence[Event]]] = {
        "create": lambda s: evd.create_event_definition(
            s,
            CreateEventDefinition(
                command_id=uuid4(), environment_id=env, key=key, value_type=MetricValueType.DOUBLE
            ),
            now,
        ),
        "update": lambda s: evd.update_event_definition(
            s,
            UpdateEventDefinition(
                command_id=uuid4(), environment_id=env, key=key, description=f"at {now.second}"
            ),
            now,
        ),
        "delete": lambda s: evd.delete_event_definition(
            s, DeleteEventDefinition(command_id=uuid4(), environment_id=env, key=key), now
        ),
    }
    await w.decide(evd.event_definition_stream(env, key), deciders[what], evd.replay)


async def _transition(w: World, index: int, status: ExperimentStatus) -> None:
    now, xid = w.now(), w.experiments[index]
    cmd = TransitionExperiment(command_id=uuid4(), experiment_id=xid, new_status=status)
    await w.decide(xid, lambda s: exp.transition_experiment(s, cmd, now), exp.replay)


RUN: dict[str, Callable[..., Any]] = {
    "flag": _flag_op,
    "flag_details": _flag_details,
    "config": _configure,
    "segment": _segment_op,
    "segment_details": _segment_details,
    "condition": _condition,
    "members": _members_op,
    "metric": _metric_op,
    "experiment": _experiment_op,
    "transition": _transition,
}


# --- the read models, row by row, against the folds ------------------------------------------------------


async def _rows(url: str, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(query.encode(), params)
        return [tuple(r) for r in await cur.fetchall()]


def _live(state: Any) -> Any:
    return None if state is None or state.deleted else state


async def _check_flag(w: World, url: str, key: str) -> None:
    flag = _live(await w.flag(key))
    config = _live(await w.config(key))
    defs = await _rows(
        url,
        "SELECT stream_id, version, value_type, variants::text, name, description, archived"
        " FROM rm_flag_definitions WHERE project_id = %s AND flag_key = %s",
        (w.project, key),
    )
    expected = (
        []
        if flag is None
        else [
            (
                flag.id,
                flag.version,
                flag.value_type.value,
                flag.variants,
                flag.name,
                flag.description,
                flag.archived,
            )
        ]
    )
    got = [(*r[:3], msgspec.json.decode(r[3], type=tuple[Variant, ...]), *r[4:]) for r in defs]
    assert got == expected, f"rm_flag_definitions {key}"
    rows = await _rows(
        url,
        "SELECT config_stream_id, definition::text, enabled, archived, segment_keys, version,"
        " definition_version FROM rm_flags WHERE environment_id = %s AND flag_key = %s",
        (w.env, key),
    )
    want = []
    if flag is not None and config is not None:
        refs = sorted(set().union(*(segment_refs(r.condition) for r in config.config.rules)))
        definition = cfg.definition_of(flag, config, w.env)
        enabled = config.config.enabled
        want = [(config.id, definition, enabled, flag.archived, refs, config.version, flag.version)]
    got_rows = [(r[0], msgspec.json.decode(r[1], type=FlagDefinition), *r[2:]) for r in rows]
    assert got_rows == want, f"rm_flags {key}"


def _members(history: Sequence[Any]) -> set[tuple[str, str]]:
    """The membership the events state: (list, context key) pairs since the segment's creation."""
    held: set[tuple[str, str]] = set()
    for e in history:
        match e:
            case SegmentCreated() | SegmentDeleted() | SegmentMembersCleared():
                held = set()
            case SegmentMembersAdded(included=inc, excluded=exc):
                held |= {("included", k) for k in inc} | {("excluded", k) for k in exc}
            case SegmentMembersRemoved(included=inc, excluded=exc):
                held -= {("included", k) for k in inc} | {("excluded", k) for k in exc}
    return held


async def _check_segment(w: World, url: str, key: str) -> None:
    history = await w.events(seg.segment_stream(w.env, key))
    state = _live(seg.replay(history))
    rows = await _rows(
        url,
        "SELECT state::text, version FROM rm_segments WHERE environment_id = %s AND segment_key = %s",
        (w.env, key),
    )
    assert [(msgspec.json.decode(r[0], type=seg.Segment), r[1]) for r in rows] == (
        [] if state is None else [(state, state.version)]
    ), f"rm_segments {key}"
    members = await _rows(
        url,
        "SELECT list, context_key FROM rm_segment_members WHERE environment_id = %s AND segment_key = %s",
        (w.env, key),
    )
    assert set(members) == (set() if state is None else _members(history)), f"rm_segment_members {key}"


async def _check_metric(w: World, url: str, key: str) -> None:
    state = _live(evd.replay(await w.events(evd.event_definition_stream(w.env, key))))
    rows = await _rows(
        url,
        "SELECT stream_id, value_type, description, version FROM rm_event_definitions"
        " WHERE environment_id = %s AND event_key = %s",
        (w.env, key),
    )
    assert rows == (
        [] if state is None else [(state.id, state.value_type.value, state.description, state.version)]
    ), f"rm_event_definitions {key}"


async def _check_experiment(w: World, url: str, xid: UUID) -> None:
    state = _live(exp.replay(await w.events(xid)))
    rows = await _rows(url, "SELECT state::text, status, version FROM rm_experiments WHERE id = %s", (xid,))
    assert [(msgspec.json.decode(r[0], type=exp.Experiment), r[1], r[2]) for r in rows] == (
        [] if state is None else [(state, state.status.value, state.version)]
    ), f"rm_experiments {xid}"
    iterations = await _rows(
        url,
        "SELECT id, iteration_number, started_at, ended_at FROM rm_experiment_iterations"
        " WHERE experiment_id = %s ORDER BY iteration_number",
        (xid,),
    )
    assert iterations == (
        [] if state is None else [(i.id, i.number, i.started_at, i.ended_at) for i in state.iterations]
    ), f"rm_experiment_iterations {xid}"


# Every aggregate exists before the random part, so most generated commands are accepted.
PROLOGUE: tuple[Op_, ...] = (
    ("flag", "create", "fa"),
    ("flag", "create", "fb"),
    ("segment", "rule", "sa"),
    ("segment", "list", "sb"),
    ("metric", "create", "ma"),
    ("experiment", "create", 0),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(ops, min_size=1, max_size=14))
async def test_every_aggregate_row_is_the_domain_fold_of_its_stream(stack: Stack, script: list[Op_]) -> None:
    world = World(stack.store)
    for op in [*PROLOGUE, *script]:
        await RUN[op[0]](world, *op[1:])
    await stack.settle(world.last)
    for key in FLAGS:
        await _check_flag(world, stack.pg_url, key)
    for key in SEGMENTS:
        await _check_segment(world, stack.pg_url, key)
    for key in METRICS:
        await _check_metric(world, stack.pg_url, key)
    for xid in world.experiments:
        await _check_experiment(world, stack.pg_url, xid)
