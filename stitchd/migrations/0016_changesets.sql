-- Changesets (issue 11): one command id may append to several streams in one transaction.
-- `streams` holds every stream's result of that append, [[stream_id, first, last, version], ...];
-- NULL on rows written before (one stream: the row's own columns).
ALTER TABLE command_results ADD COLUMN IF NOT EXISTS streams jsonb;
-- A changeset's events by its command id: the audit's one entry, revert and the changeset routes.
CREATE INDEX IF NOT EXISTS events_command_idx ON events ((metadata->>'command_id'), position);
