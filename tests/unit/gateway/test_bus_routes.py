"""Routes on the bus, with a FakeBus and fake read models: a route builds a command, hands it to the bus
with the caller's scope, and shapes the answer from the outcome (it never loads a stream)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from commands.bus import Outcome
from commands.experiments import PatchExperiment
from commands.streams import OrgScope, Scope
from domain.event_definitions.commands import DeleteEventDefinition
from domain.events import Command
from domain.experiments import experiment as deciders
from domain.experiments import experiment as exp
from domain.experiments.commands import CreateExperiment, TransitionExperiment
from domain.experiments.events import ExperimentStatus
from domain.tenancy.commands import AcceptInvitation, CreateProject, RemoveMembership, RemoveUser
from gateway import tenancy_users
from gateway.auth.guards import EnvironmentScope
from gateway.auth.principals import Caller
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.event_definitions import EventDefinitionController
from gateway.experiments import ExperimentController
from gateway.invitations import InvitationController
from gateway.tenancy import ProjectController
from gateway.tenancy_users import UserController
from readmodels import directory, identity
from schemas.http_experiments import TransitionBody, UpdateExperimentBody
from schemas.http_identity import CreateProjectBody

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORG, PROJECT, ENV, USER = uuid4(), uuid4(), uuid4(), uuid4()
CALLER = Caller(user_id=USER, org_id=ORG, role="org_admin")
ENV_SCOPE = EnvironmentScope(environment_id=ENV, project_id=PROJECT, org_id=ORG, actor="ann", caller=CALLER)


@dataclass
class FakeBus:
    """Records what it is sent; answers with the given states at position 7."""

    states: dict[UUID, Any] = field(default_factory=dict)
    replies: tuple[Any, ...] = ()
    sent: list[tuple[list[Command], Any]] = field(default_factory=list)

    async def handle(self, command: Command, scope: Any) -> Outcome:
        return await self.handle_changeset([command], scope, command_id=command.command_id)

    async def handle_changeset(self, commands: Sequence[Command], scope: Any, *, command_id: UUID) -> Outcome:
        self.sent.append((list(commands), scope))
        return Outcome(
            command_id=command_id, written=(), position=7, states=self.states, replies=self.replies
        )


@dataclass
class FakeDeps:
    bus: FakeBus
    db: Any = None
    settled: list[int] = field(default_factory=list)

    async def settle(self, position: int) -> int:
        self.settled.append(position)
        return position

    def clock(self) -> datetime:
        return NOW


def deps(bus: FakeBus) -> GatewayDeps:
    return cast(GatewayDeps, FakeDeps(bus))


def _experiment(experiment_id: UUID) -> exp.Experiment:
    create = CreateExperiment(
        command_id=uuid4(), experiment_id=experiment_id, environment_id=ENV, flag_key="f", name="E",
        variant_keys=("off", "on"), control_variant="off",
    )  # fmt: skip
    events = deciders.create_experiment(None, create, NOW, flag_variants=frozenset({"off", "on"}))
    state = exp.replay(events)
    assert state is not None
    return state


async def test_a_transition_is_one_command_in_the_environments_scope_answered_from_the_outcome() -> None:
    experiment_id = uuid4()
    bus = FakeBus(states={experiment_id: _experiment(experiment_id)})
    body = TransitionBody(new_status="active", reason="go", version=1)
    fn = ExperimentController.transition.fn
    view = await fn(None, experiment_id=experiment_id, data=body, env_scope=ENV_SCOPE, deps=deps(bus))
    [([cmd], scope)] = bus.sent
    assert isinstance(cmd, TransitionExperiment)
    assert (cmd.new_status, cmd.expected_version, cmd.reason) == (ExperimentStatus.ACTIVE, 1, "go")
    assert scope == Scope(actor="ann", org_id=ORG, project_id=PROJECT, environment_id=ENV)
    assert (view.id, view.position, view.status) == (experiment_id, 7, "DRAFT")  # the outcome's state


async def test_an_update_sends_only_what_the_body_changes_and_never_reads_the_experiment() -> None:
    experiment_id = uuid4()
    bus = FakeBus(states={experiment_id: _experiment(experiment_id)})
    body = UpdateExperimentBody(version=3, name="Renamed", metric_keys=["m"])
    fn = ExperimentController.update_experiment.fn
    await fn(None, experiment_id=experiment_id, data=body, env_scope=ENV_SCOPE, deps=deps(bus))
    [([cmd], _)] = bus.sent
    assert cmd == PatchExperiment(
        command_id=cmd.command_id, experiment_id=experiment_id, expected_version=3, name="Renamed",
        metric_keys=("m",),
    )  # fmt: skip


async def test_deleting_an_event_definition_sends_the_version_and_answers_the_position() -> None:
    bus = FakeBus()
    fn = EventDefinitionController.delete_definition.fn
    answer = await fn(None, key="clicks", env_scope=ENV_SCOPE, deps=deps(bus), version=4)
    [([cmd], _)] = bus.sent
    assert isinstance(cmd, DeleteEventDefinition)
    assert (cmd.environment_id, cmd.key, cmd.expected_version) == (ENV, "clicks", 4)
    assert (answer.deleted, answer.position) == (True, 7)


async def test_a_project_is_created_in_the_callers_organisation(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_project(_: object, project_id: UUID) -> None:
        return None

    monkeypatch.setattr(directory, "get_project", no_project)
    bus = FakeBus()
    fn = ProjectController.create.fn
    reply = await fn(None, data=CreateProjectBody(name=" Web "), caller=CALLER, deps=deps(bus))
    [([cmd], scope)] = bus.sent
    assert isinstance(cmd, CreateProject)
    assert (cmd.org_id, cmd.name, scope) == (ORG, " Web ", OrgScope(actor=str(USER), org_id=ORG))
    assert (reply.project_id, reply.project_name, reply.position) == (cmd.project_id, "Web", 7)


async def test_accepting_an_invitation_needs_a_pending_one(monkeypatch: pytest.MonkeyPatch) -> None:
    invited: set[UUID] = set()

    async def is_invited(_: object, user_id: UUID, org_id: UUID) -> bool:
        return org_id in invited

    monkeypatch.setattr(identity, "is_invited", is_invited)
    bus, other = FakeBus(), uuid4()
    fn = InvitationController.accept.fn
    with pytest.raises(NotFound, match="no invitation"):
        await fn(None, org_id=other, caller=CALLER, deps=deps(bus))
    assert bus.sent == []
    invited.add(other)
    await fn(None, org_id=other, caller=CALLER, deps=deps(bus))
    [([cmd], scope)] = bus.sent
    assert isinstance(cmd, AcceptInvitation)
    assert (cmd.user_id, cmd.org_id) == (USER, other)
    assert scope == OrgScope(actor=str(USER), org_id=other)


async def test_removing_a_member_of_no_other_organisation_is_one_changeset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = uuid4()

    @dataclass
    class Member:
        orgs: set[UUID]

    async def managed(*_: object) -> Member:
        return Member(orgs={ORG})

    async def not_invited(*_: object) -> bool:
        return False

    forgotten: list[UUID] = []

    async def forget(_: object, user_id: UUID) -> None:
        forgotten.append(user_id)

    class Tokens:
        async def revoke_user(self, user_id: UUID, *, now: datetime) -> None:
            pass

    monkeypatch.setattr(tenancy_users, "managed_member", managed)
    monkeypatch.setattr(identity, "is_invited", not_invited)
    monkeypatch.setattr(tenancy_users, "forget_account", forget)
    bus = FakeBus()
    fake = FakeDeps(bus)
    fake.identity_vault = lambda: None  # type: ignore[attr-defined]
    fake.refresh_tokens = Tokens()  # type: ignore[attr-defined]
    await UserController.remove.fn(None, user_id=target, caller=CALLER, deps=cast(GatewayDeps, fake))
    [(commands, _)] = bus.sent
    assert [type(c) for c in commands] == [RemoveMembership, RemoveUser]
    assert forgotten == [target]
