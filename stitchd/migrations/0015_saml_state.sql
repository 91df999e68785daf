-- SAML login state (issue 13, gateway/saml/state.py): short-lived session state, not domain facts, so
-- plain tables outside the append-only log. Expired rows are purged by the writes themselves.

-- An AuthnRequest we sent and have not yet seen answered: the RelayState (stored only as its sha256)
-- names it, single use, until `expires_at`; the response must answer `request_id` (InResponseTo).
CREATE TABLE IF NOT EXISTS saml_pending_requests (
    relay_state_hash text PRIMARY KEY,
    request_id       text        NOT NULL UNIQUE,
    provider_id      uuid        NOT NULL,
    acs_url          text        NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS saml_pending_requests_expiry_idx ON saml_pending_requests (expires_at);

-- Assertion ids already used to log in, per provider, kept until the assertion itself expires: a
-- second use of the same assertion is a replay.
CREATE TABLE IF NOT EXISTS saml_used_assertions (
    provider_id  uuid        NOT NULL,
    assertion_id text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (provider_id, assertion_id)
);
CREATE INDEX IF NOT EXISTS saml_used_assertions_expiry_idx ON saml_used_assertions (expires_at);
