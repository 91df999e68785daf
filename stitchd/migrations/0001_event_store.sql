-- Event store: one append-only table; positions assigned under a transaction-level advisory lock so
-- they are strictly increasing in commit order (a tailing reader never sees a gap fill in later).
CREATE TABLE IF NOT EXISTS events (
    position     bigint PRIMARY KEY,
    stream_id    uuid        NOT NULL,
    stream_type  text        NOT NULL,
    version      integer     NOT NULL CHECK (version >= 1),
    event_id     uuid        NOT NULL UNIQUE,
    type         text        NOT NULL,
    data         jsonb       NOT NULL,
    metadata     jsonb       NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_env_idx ON events ((metadata->>'environment_id'), position);

-- Idempotency: a command id maps to the result of its first execution.
CREATE TABLE IF NOT EXISTS command_results (
    command_id   uuid PRIMARY KEY,
    stream_id    uuid   NOT NULL,
    first_position bigint NOT NULL,
    last_position  bigint NOT NULL,
    version      integer NOT NULL,
    response     jsonb,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Cursors of the outbox relay and checkpoints of projections: last position handled.
CREATE TABLE IF NOT EXISTS checkpoints (
    name      text PRIMARY KEY,
    position  bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
