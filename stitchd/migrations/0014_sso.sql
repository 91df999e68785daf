-- Single sign-on (issue 13).

-- Projection "auth_providers": one row per provider; `state` is the folded
-- domain.auth_providers.provider.AuthProvider (msgspec JSON, the OIDC client secret in it sealed).
CREATE TABLE IF NOT EXISTS rm_auth_providers (
    id            uuid PRIMARY KEY,
    org_id        uuid        NOT NULL,
    provider_type text        NOT NULL,
    enabled       boolean     NOT NULL,
    deleted       boolean     NOT NULL DEFAULT false,
    email_domains text[]      NOT NULL DEFAULT '{}',
    state         jsonb       NOT NULL,
    version       integer     NOT NULL,
    position      bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_auth_providers_org_idx ON rm_auth_providers (org_id);
CREATE INDEX IF NOT EXISTS rm_auth_providers_domains_idx ON rm_auth_providers USING gin (email_domains);

-- Same projection: organisations that require SSO for password logins of their non-system members.
CREATE TABLE IF NOT EXISTS rm_org_sso (
    org_id      uuid PRIMARY KEY,
    require_sso boolean     NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Server-side one-time state of an SSO login in flight (OIDC `state` + nonce + PKCE verifier, SAML
-- RelayState + request id), keyed by a SHA-256 of the value handed to the browser; consumed by a
-- DELETE ... RETURNING (single use, atomic), refused after `expires_at`. Mutable, outside the log.
CREATE TABLE IF NOT EXISTS sso_login_states (
    state_hash   text PRIMARY KEY,
    kind         text        NOT NULL,
    provider_id  uuid        NOT NULL,
    org_id       uuid        NOT NULL,
    redirect_uri text        NOT NULL,
    data         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sso_login_states_expiry_idx ON sso_login_states (expires_at);
CREATE INDEX IF NOT EXISTS sso_login_states_provider_idx ON sso_login_states (provider_id);

-- Which account an IdP subject logged in as (a SHA-256 of provider id and subject, never the subject).
CREATE TABLE IF NOT EXISTS sso_identities (
    provider_id  uuid        NOT NULL,
    subject_hash text        NOT NULL,
    user_id      uuid        NOT NULL,
    linked_at    timestamptz NOT NULL,
    PRIMARY KEY (provider_id, subject_hash)
);
CREATE INDEX IF NOT EXISTS sso_identities_user_idx ON sso_identities (user_id);

-- A session started through SSO is bound to the provider's organisation: it cannot switch to
-- another organisation nor change the account's password (a tenant's IdP vouches for that tenant only).
ALTER TABLE auth_sessions ADD COLUMN IF NOT EXISTS bound_org_id uuid;
