"""Single sign-on (issue 13): provider management, OIDC login, login discovery, user provisioning.

The SAML protocol (part 3) plugs in beside `oidc.py`: it reads a provider's `config.saml`, keeps its
RelayState with `state.put_state`/`take_state` (kind "saml"), and ends in `provisioning.sso_login`.
"""
