-- Read models of the flag, segment, event-definition and experiment projections (helper-8), plus the
-- experiment results the stats worker writes and its recompute job queue.

-- A flag's project-level part: key, value type, variants (one row per project x flag).
CREATE TABLE IF NOT EXISTS rm_flag_definitions (
    project_id   uuid        NOT NULL,
    flag_key     text        NOT NULL,
    stream_id    uuid        NOT NULL,
    org_id       uuid,
    value_type   text        NOT NULL,
    variants     jsonb       NOT NULL,
    name         text        NOT NULL DEFAULT '',
    description  text        NOT NULL DEFAULT '',
    archived     boolean     NOT NULL DEFAULT false,
    version      integer     NOT NULL,
    position     bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, flag_key)
);

-- One row per environment x flag that has a config stream; `definition` is the complete
-- domain.flags.model.FlagDefinition (msgspec JSON) the evaluator and the SDK sync need.
-- Environments without a config stream for a project flag treat it as disabled serving the first variant.
CREATE TABLE IF NOT EXISTS rm_flags (
    environment_id     uuid        NOT NULL,
    flag_key           text        NOT NULL,
    project_id         uuid        NOT NULL,
    org_id             uuid,
    config_stream_id   uuid        NOT NULL,
    definition         jsonb       NOT NULL,
    enabled            boolean     NOT NULL,
    archived           boolean     NOT NULL DEFAULT false,
    segment_keys       text[]      NOT NULL DEFAULT '{}',
    version            integer     NOT NULL,
    definition_version integer     NOT NULL,
    position           bigint      NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (environment_id, flag_key)
);
CREATE INDEX IF NOT EXISTS rm_flags_project_idx ON rm_flags (project_id, flag_key);
CREATE INDEX IF NOT EXISTS rm_flags_segments_idx ON rm_flags USING gin (segment_keys);

-- Segments per environment; `definition` is a RuleSegment or ListSegmentMeta (msgspec JSON) and `state`
-- the folded domain.segments.segment.Segment the projection evolves.
CREATE TABLE IF NOT EXISTS rm_segments (
    environment_id uuid        NOT NULL,
    segment_key    text        NOT NULL,
    segment_id     uuid        NOT NULL,
    project_id     uuid,
    org_id         uuid,
    kind           text        NOT NULL CHECK (kind IN ('rule', 'list')),
    context_type   text        NOT NULL,
    name           text        NOT NULL DEFAULT '',
    description    text        NOT NULL DEFAULT '',
    definition     jsonb       NOT NULL,
    state          jsonb       NOT NULL,
    segment_refs   text[]      NOT NULL DEFAULT '{}',
    version        integer     NOT NULL,
    position       bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (environment_id, segment_key)
);
CREATE UNIQUE INDEX IF NOT EXISTS rm_segments_id_idx ON rm_segments (segment_id);

-- List-segment membership: a context key on the included or the excluded list.
CREATE TABLE IF NOT EXISTS rm_segment_members (
    environment_id uuid   NOT NULL,
    segment_key    text   NOT NULL,
    list           text   NOT NULL CHECK (list IN ('included', 'excluded')),
    context_key    text   NOT NULL,
    position       bigint NOT NULL,
    PRIMARY KEY (environment_id, segment_key, context_key, list)
);

CREATE TABLE IF NOT EXISTS rm_event_definitions (
    environment_id uuid        NOT NULL,
    event_key      text        NOT NULL,
    stream_id      uuid        NOT NULL,
    project_id     uuid,
    org_id         uuid,
    value_type     text        NOT NULL,
    description    text        NOT NULL DEFAULT '',
    version        integer     NOT NULL,
    position       bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (environment_id, event_key)
);

CREATE TABLE IF NOT EXISTS rm_experiments (
    id                 uuid        PRIMARY KEY,
    environment_id     uuid        NOT NULL,
    project_id         uuid,
    org_id             uuid,
    name               text        NOT NULL,
    description        text        NOT NULL DEFAULT '',
    flag_key           text        NOT NULL,
    status             text        NOT NULL,
    variant_keys       text[]      NOT NULL DEFAULT '{}',
    control_variant    text        NOT NULL DEFAULT '',
    weights            jsonb       NOT NULL DEFAULT '[]',
    metric_keys        text[]      NOT NULL DEFAULT '{}',
    traffic_allocation double precision NOT NULL DEFAULT 1.0,
    state              jsonb       NOT NULL,
    version            integer     NOT NULL,
    position           bigint      NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_experiments_env_idx ON rm_experiments (environment_id, created_at);

-- One row per activation; ended_at is NULL while the iteration runs.
CREATE TABLE IF NOT EXISTS rm_experiment_iterations (
    id                 uuid        PRIMARY KEY,
    experiment_id      uuid        NOT NULL,
    environment_id     uuid        NOT NULL,
    iteration_number   integer     NOT NULL,
    started_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    metric_keys        text[]      NOT NULL DEFAULT '{}',
    variant_keys       text[]      NOT NULL DEFAULT '{}',
    weights            jsonb       NOT NULL DEFAULT '[]',
    traffic_allocation double precision NOT NULL DEFAULT 1.0,
    position           bigint      NOT NULL,
    UNIQUE (experiment_id, iteration_number)
);

-- Written by the stats worker (not a projection): one row per experiment iteration.
-- variant_results is a list of the seed's VariantResult objects; details holds effects, intervals, SRM.
CREATE TABLE IF NOT EXISTS rm_experiment_results (
    experiment_id      uuid        NOT NULL,
    iteration_number   integer     NOT NULL,
    environment_id     uuid        NOT NULL,
    computation_status text        NOT NULL,
    variant_results    jsonb       NOT NULL DEFAULT '[]',
    details            jsonb       NOT NULL DEFAULT '{}',
    computed_at        timestamptz,
    next_run_at        timestamptz,
    is_stale           boolean     NOT NULL DEFAULT false,
    error              text        NOT NULL DEFAULT '',
    PRIMARY KEY (experiment_id, iteration_number)
);

-- On-demand recompute jobs; the stats worker claims them with SELECT ... FOR UPDATE SKIP LOCKED.
CREATE TABLE IF NOT EXISTS stats_jobs (
    id             uuid        PRIMARY KEY,
    experiment_id  uuid        NOT NULL,
    environment_id uuid        NOT NULL,
    status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    completed_at   timestamptz,
    error          text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS stats_jobs_pending_idx ON stats_jobs (created_at) WHERE status = 'pending';
