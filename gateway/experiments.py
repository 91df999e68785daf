"""/v1/environments/{env_id}/experiments (+ iterations, results, recompute) and /stats-jobs/{job_id}.

Transitions follow DRAFT -> ACTIVE <-> PAUSED -> CONCLUDED; each activation starts an iteration, each
pause or conclusion ends it. Results come from rm_experiment_results, written by the stats worker
("pending" until it has computed one); recompute jobs queue in `stats_jobs`.
"""

from __future__ import annotations

from uuid import UUID, uuid4, uuid5

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from commands.experiments import ExperimentCommand, handle_experiment, load_experiment
from commands.stats_jobs import PostgresStatsJobs
from commands.streams import Scope
from domain.experiments.commands import (
    CreateExperiment,
    DeleteExperiment,
    TransitionExperiment,
    UpdateExperiment,
)
from gateway import experiment_views as views
from gateway.auth.guards import BEARER, EnvironmentScope, tenant_reader, tenant_writer
from gateway.deps import GatewayDeps
from gateway.errors import NotFound
from gateway.query import VersionQuery
from gateway.writes import IdempotencyKey, command_id, write_scope
from readmodels import experiments as rm
from schemas.http_experiments import (
    CreateExperimentBody,
    DeletedExperiment,
    ExperimentList,
    ExperimentView,
    IterationList,
    ResultsView,
    StatsJobView,
    TransitionBody,
    UpdateExperimentBody,
)


async def _run(deps: GatewayDeps, scope: Scope, cmd: ExperimentCommand) -> ExperimentView:
    written = await handle_experiment(cmd, scope, store=deps.store, clock=deps.clock)
    state = await load_experiment(deps.store, scope, cmd.experiment_id)
    await deps.settle(written.position)
    return views.state_view(state, written.position)


async def _row(deps: GatewayDeps, env: EnvironmentScope, experiment_id: UUID) -> rm.ExperimentRow:
    row = await rm.experiment(deps.db, environment_id=env.environment_id, experiment_id=experiment_id)
    if row is None:
        raise NotFound(f"experiment {experiment_id} not found")
    return row


class ExperimentController(Controller):
    path = "/v1/environments/{env_id:uuid}"
    tags = ["experiments"]
    security = BEARER

    @get("/experiments", guards=[tenant_reader])
    async def list_experiments(
        self, env_scope: NamedDependency[EnvironmentScope], deps: NamedDependency[GatewayDeps]
    ) -> ExperimentList:
        """The environment's experiments, oldest first."""
        rows = await rm.experiments_in_environment(deps.db, environment_id=env_scope.environment_id)
        return ExperimentList(experiments=[views.row_view(r) for r in rows])

    @post("/experiments", guards=[tenant_writer])
    async def create_experiment(
        self,
        data: JSONBody[CreateExperimentBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> ExperimentView:
        """A DRAFT experiment on one of the project's flags (Idempotency-Key: a repeat returns the first)."""
        scope = write_scope(env_scope)
        cid = await command_id(env_scope, "experiment.create", idempotency_key, body=data, db=deps.db)
        experiment_id = uuid5(cid, "experiment") if idempotency_key is not None else uuid4()
        control = data.control_variant or (data.variant_keys[0] if data.variant_keys else "")
        cmd = CreateExperiment(
            command_id=cid,
            experiment_id=experiment_id,
            environment_id=scope.environment_id,
            flag_key=data.flag_key,
            name=data.name,
            variant_keys=tuple(data.variant_keys),
            control_variant=control,
            description=data.description,
            metric_keys=tuple(data.metric_keys),
            weights=views.buckets(data.weights),
            traffic_allocation=data.traffic_allocation,
            stats_interval_minutes=data.stats_interval_minutes,
        )
        return await _run(deps, scope, cmd)

    @get("/experiments/{experiment_id:uuid}", guards=[tenant_reader])
    async def get_experiment(
        self,
        experiment_id: FromPath[UUID],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> ExperimentView:
        """One experiment."""
        return views.row_view(await _row(deps, env_scope, experiment_id))

    @put("/experiments/{experiment_id:uuid}", guards=[tenant_writer])
    async def update_experiment(
        self,
        experiment_id: FromPath[UUID],
        data: JSONBody[UpdateExperimentBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> ExperimentView:
        """Change fields; what may change depends on the status (409/400 otherwise)."""
        scope = write_scope(env_scope)
        s = await load_experiment(deps.store, scope, experiment_id)
        cmd = UpdateExperiment(
            command_id=uuid4(),
            experiment_id=experiment_id,
            expected_version=data.version,
            name=s.name if data.name is None else data.name,
            description=s.description if data.description is None else data.description,
            variant_keys=s.variant_keys if data.variant_keys is None else tuple(data.variant_keys),
            control_variant=data.control_variant or s.control_variant,
            metric_keys=s.metric_keys if data.metric_keys is None else tuple(data.metric_keys),
            weights=s.weights if data.weights is None else views.buckets(data.weights),
            traffic_allocation=s.traffic_allocation
            if data.traffic_allocation is None
            else data.traffic_allocation,
            stats_interval_minutes=s.stats_interval_minutes
            if data.stats_interval_minutes is None
            else data.stats_interval_minutes,
        )
        return await _run(deps, scope, cmd)

    @delete("/experiments/{experiment_id:uuid}", guards=[tenant_writer], status_code=200)
    async def delete_experiment(
        self,
        experiment_id: FromPath[UUID],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        version: VersionQuery,
    ) -> DeletedExperiment:
        """Delete a DRAFT or CONCLUDED experiment."""
        scope = write_scope(env_scope)
        cmd = DeleteExperiment(command_id=uuid4(), experiment_id=experiment_id, expected_version=version)
        written = await handle_experiment(cmd, scope, store=deps.store, clock=deps.clock)
        return DeletedExperiment(id=experiment_id, deleted=True, position=await deps.settle(written.position))

    @post("/experiments/{experiment_id:uuid}/transition", guards=[tenant_writer], status_code=200)
    async def transition(
        self,
        experiment_id: FromPath[UUID],
        data: JSONBody[TransitionBody],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> ExperimentView:
        """Move to `new_status`; illegal transitions are refused with the reason."""
        cmd = TransitionExperiment(
            command_id=uuid4(),
            experiment_id=experiment_id,
            new_status=views.status_of(data.new_status),
            reason=data.reason,
            expected_version=data.version,
        )
        return await _run(deps, write_scope(env_scope), cmd)

    @get("/experiments/{experiment_id:uuid}/iterations", guards=[tenant_reader])
    async def list_iterations(
        self,
        experiment_id: FromPath[UUID],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> IterationList:
        """Every iteration in order; `ended_at_ms` is 0 for the running one."""
        await _row(deps, env_scope, experiment_id)
        rows = await rm.iterations(deps.db, experiment_id=experiment_id)
        return IterationList(iterations=[views.iteration_view(i) for i in rows])

    @get("/experiments/{experiment_id:uuid}/results", guards=[tenant_reader])
    async def results(
        self,
        experiment_id: FromPath[UUID],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> ResultsView:
        """The latest statistical results ("pending" until first computed); `is_stale` is derived at read
        time (domain.experiments.schedule.results_are_stale)."""
        await _row(deps, env_scope, experiment_id)
        found = await rm.latest_results(deps.db, experiment_id=experiment_id)
        iterations = await rm.iterations(deps.db, experiment_id=experiment_id) if found else []
        return views.results_view(experiment_id, found, iterations=iterations, now=deps.clock())

    @post("/experiments/{experiment_id:uuid}/recompute", guards=[tenant_writer], status_code=202)
    async def recompute(
        self,
        experiment_id: FromPath[UUID],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> StatsJobView:
        """Queue an out-of-band recompute; poll GET /stats-jobs/{job_id}."""
        await _row(deps, env_scope, experiment_id)
        job_id = await command_id(
            env_scope, "stats.recompute", idempotency_key, body=experiment_id, db=deps.db
        )
        job = await PostgresStatsJobs(deps.db).request(
            job_id=job_id,
            experiment_id=experiment_id,
            environment_id=env_scope.environment_id,
            org_id=env_scope.org_id,
            now=deps.clock(),
        )
        return views.job_view(job)

    @get("/stats-jobs/{job_id:uuid}", guards=[tenant_reader])
    async def stats_job(
        self,
        job_id: FromPath[UUID],
        env_scope: NamedDependency[EnvironmentScope],
        deps: NamedDependency[GatewayDeps],
    ) -> StatsJobView:
        """A recompute job's status: pending, running, succeeded or failed (with `error`)."""
        job = await rm.stats_job(deps.db, job_id=job_id)
        if job is None or job.environment_id != env_scope.environment_id:
            raise NotFound(f"stats job {job_id} not found")
        return views.job_view(job)
