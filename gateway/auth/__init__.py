"""Authentication (JWT bearer, SDK keys), passwords, refresh tokens, login throttling and role guards."""
