-- Per-organisation quota counts (domain/quotas.py): write-side state like command_results, changed only
-- by the event store's append in the transaction that records the creating or deleting event.
CREATE TABLE IF NOT EXISTS quota_usage (
    org_id   uuid    NOT NULL,
    counted  text    NOT NULL,
    used     integer NOT NULL CHECK (used >= 0),
    PRIMARY KEY (org_id, counted)
);

-- An existing installation starts from what its read models hold now.
INSERT INTO quota_usage (org_id, counted, used)
SELECT org_id, 'projects', count(*) FROM rm_projects GROUP BY org_id
UNION ALL
SELECT org_id, 'environments', count(*) FROM rm_environments GROUP BY org_id
UNION ALL
SELECT org_id, 'flags', count(*) FROM rm_flag_definitions WHERE org_id IS NOT NULL GROUP BY org_id
UNION ALL
SELECT org_id, 'segments', count(*) FROM rm_segments WHERE org_id IS NOT NULL GROUP BY org_id
ON CONFLICT (org_id, counted) DO NOTHING;
