-- How often the stats worker recomputes an experiment's running iteration (the experiment's
-- stats_interval_minutes, 1..10080); rows projected before the field existed carry the default 60.
ALTER TABLE rm_experiments
    ADD COLUMN IF NOT EXISTS stats_interval_minutes integer NOT NULL DEFAULT 60;
