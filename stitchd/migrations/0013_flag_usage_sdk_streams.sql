-- helper-ops. Evaluation analytics: hourly evaluation counts per flag and variant, rolled up by the stats
-- worker from ClickHouse (flag_usage_hourly) so the gateway answers usage and staleness from Postgres.
CREATE TABLE IF NOT EXISTS rm_flag_usage (
    environment_id uuid NOT NULL,
    flag_key       text NOT NULL,
    variant_key    text NOT NULL,
    hour           timestamptz NOT NULL,
    evaluations    bigint NOT NULL,
    PRIMARY KEY (environment_id, flag_key, hour, variant_key)
);
CREATE INDEX IF NOT EXISTS rm_flag_usage_recent_idx ON rm_flag_usage (environment_id, hour);

-- How far each roll-up has read its source (by ClickHouse insert time).
CREATE TABLE IF NOT EXISTS stats_rollups (
    name      text PRIMARY KEY,
    watermark timestamptz NOT NULL
);

-- "What did every SDK see?": one row per sync stream, written by the broadcaster that serves it.
CREATE TABLE IF NOT EXISTS sdk_streams (
    stream_id      uuid PRIMARY KEY,
    environment_id uuid NOT NULL,
    sdk_key_id     uuid,
    instance_id    text NOT NULL DEFAULT '',
    sdk_version    text NOT NULL DEFAULT '',
    broadcaster    text NOT NULL DEFAULT '',
    opened_at      timestamptz NOT NULL,
    closed_at      timestamptz,
    last_sequence  bigint NOT NULL DEFAULT 0,
    last_sent_at   timestamptz
);
CREATE INDEX IF NOT EXISTS sdk_streams_env_idx ON sdk_streams (environment_id, closed_at);

-- Every sequence a stream delivered and when (for `?at=`); pruned with the stream rows.
CREATE TABLE IF NOT EXISTS sdk_stream_sequences (
    stream_id uuid NOT NULL,
    sequence  bigint NOT NULL,
    sent_at   timestamptz NOT NULL,
    PRIMARY KEY (stream_id, sequence)
);
CREATE INDEX IF NOT EXISTS sdk_stream_sequences_at_idx ON sdk_stream_sequences (stream_id, sent_at);
