"""SAML 2.0 login (issue 13, part 3): protocol over pysaml2, server-side state, routes."""
