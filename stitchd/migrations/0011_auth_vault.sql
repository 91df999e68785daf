-- Identity vault and session state (issue 9): mutable tables OUTSIDE the append-only log.
-- Password hashes and their token generation (readmodels/vault.py); the log only records that a
-- password was set or changed.
CREATE TABLE IF NOT EXISTS auth_credentials (
    user_id       uuid PRIMARY KEY,
    password_hash text        NOT NULL,
    generation    integer     NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL
);
-- Hashes projected by older code (development data only) move here once; the read model forgets them.
INSERT INTO auth_credentials (user_id, password_hash, generation, updated_at)
    SELECT user_id, password_hash, token_generation, updated_at FROM rm_users WHERE password_hash <> ''
    ON CONFLICT (user_id) DO NOTHING;
ALTER TABLE rm_users DROP COLUMN IF EXISTS password_hash;

-- One AES-256-GCM key per person; deleting a row crypto-shreds that person's data in the log.
CREATE TABLE IF NOT EXISTS personal_data_keys (
    subject_id uuid PRIMARY KEY,
    key        bytea       NOT NULL,
    created_at timestamptz NOT NULL
);

-- A login session (one refresh-token family): access tokens carry its id (`sid`) and die with it.
CREATE TABLE IF NOT EXISTS auth_sessions (
    family_id  uuid PRIMARY KEY,
    user_id    uuid        NOT NULL,
    started_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS auth_sessions_user_idx ON auth_sessions (user_id);

-- Idempotency-Key fingerprints: a key replayed with another body answers 422 (gateway/idempotency.py).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    command_id  uuid PRIMARY KEY,
    fingerprint text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Pending invitations of existing accounts (projection "identity"): not memberships until accepted.
CREATE TABLE IF NOT EXISTS rm_invitations (
    user_id      uuid        NOT NULL,
    org_id       uuid        NOT NULL,
    role         text        NOT NULL,
    display_name text        NOT NULL,
    invited_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX IF NOT EXISTS rm_invitations_org_idx ON rm_invitations (org_id);
