-- Directory read model (projections/directory.py): organisations, projects and environments by id.
-- Rows are written only by the projection runner; timestamps come from the events (replayable).
CREATE TABLE IF NOT EXISTS rm_orgs (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    is_system   boolean     NOT NULL DEFAULT false,
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS rm_projects (
    id          uuid PRIMARY KEY,
    org_id      uuid        NOT NULL,
    name        text        NOT NULL,
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_projects_org_idx ON rm_projects (org_id, created_at, id);

CREATE TABLE IF NOT EXISTS rm_environments (
    id          uuid PRIMARY KEY,
    org_id      uuid        NOT NULL,
    project_id  uuid        NOT NULL,
    name        text        NOT NULL,
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_environments_project_idx ON rm_environments (project_id, created_at, id);
