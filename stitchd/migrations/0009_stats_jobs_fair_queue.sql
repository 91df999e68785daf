-- Recompute jobs: at most one pending job per experiment, and the tenant (organisation) of each job
-- so the worker serves tenants in turn instead of in global arrival order.

-- Earlier duplicates become failed (superseded), so the unique index can be built on a live table.
UPDATE stats_jobs j
SET status = 'failed', completed_at = now(), error = 'superseded by an earlier pending job of this experiment'
WHERE j.status = 'pending' AND EXISTS (
    SELECT 1 FROM stats_jobs o
    WHERE o.experiment_id = j.experiment_id AND o.status = 'pending'
      AND (o.created_at, o.id) < (j.created_at, j.id)
);
CREATE UNIQUE INDEX IF NOT EXISTS stats_jobs_one_pending_idx ON stats_jobs (experiment_id) WHERE status = 'pending';

-- NULL for jobs queued before this migration: they count as their environment's own tenant.
ALTER TABLE stats_jobs ADD COLUMN IF NOT EXISTS org_id uuid;
CREATE INDEX IF NOT EXISTS stats_jobs_tenant_started_idx
    ON stats_jobs ((coalesce(org_id, environment_id)), started_at DESC);
