-- Identity read models (projection "identity") and refresh-token session state (gateway, not events).
CREATE TABLE IF NOT EXISTS rm_users (
    user_id          uuid PRIMARY KEY,
    email            text        NOT NULL,
    display_name     text        NOT NULL,
    password_hash    text        NOT NULL,
    token_generation integer     NOT NULL DEFAULT 0,
    removed          boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    position         bigint      NOT NULL
);
-- Not unique: the email claim stream guarantees uniqueness, and a projection must never stop on a constraint.
CREATE INDEX IF NOT EXISTS rm_users_email_idx ON rm_users (email);

CREATE TABLE IF NOT EXISTS rm_memberships (
    user_id    uuid        NOT NULL,
    org_id     uuid        NOT NULL,
    role       text        NOT NULL,
    joined_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX IF NOT EXISTS rm_memberships_org_idx ON rm_memberships (org_id);

CREATE TABLE IF NOT EXISTS rm_sdk_keys (
    key_id         uuid PRIMARY KEY,
    environment_id uuid        NOT NULL,
    project_id     uuid,
    org_id         uuid,
    name           text        NOT NULL,
    prefix         text        NOT NULL,
    key_hash       text        NOT NULL,
    status         text        NOT NULL,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    position       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_sdk_keys_hash_idx ON rm_sdk_keys (key_hash);
CREATE INDEX IF NOT EXISTS rm_sdk_keys_env_idx ON rm_sdk_keys (environment_id, created_at);

CREATE TABLE IF NOT EXISTS auth_refresh_tokens (
    token_hash          text PRIMARY KEY,
    family_id           uuid        NOT NULL,
    user_id             uuid        NOT NULL,
    org_id              uuid        NOT NULL,
    credentials_version integer     NOT NULL,
    issued_at           timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    used_at             timestamptz,
    revoked_at          timestamptz
);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_user_idx ON auth_refresh_tokens (user_id);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_family_idx ON auth_refresh_tokens (family_id);
