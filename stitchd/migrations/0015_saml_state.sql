-- SAML login (issue 13, part 3; gateway/saml/state.py). The RelayState and its AuthnRequest id live in
-- sso_login_states (migration 0014, kind 'saml'); this is the replay cache.

-- Assertion ids already used to log in, per provider, kept until the assertion itself expires (its
-- NotOnOrAfter plus the clock skew): a second use of the same assertion is a replay. Mutable session
-- state outside the log; expired rows are purged by the inserts themselves.
CREATE TABLE IF NOT EXISTS saml_used_assertions (
    provider_id  uuid        NOT NULL,
    assertion_id text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (provider_id, assertion_id)
);
CREATE INDEX IF NOT EXISTS saml_used_assertions_expiry_idx ON saml_used_assertions (expires_at);
