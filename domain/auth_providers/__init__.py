"""Identity providers (OIDC, SAML) of an organisation: one aggregate per provider."""
