"""Connecting Gmail: Google OAuth consent (code flow, PKCE, single-use hashed state), granular
scopes per feature, encrypted tokens and their lifecycle (refresh, keep-alive, invalid_grant →
reauth_required), disconnect with revocation and crypto-shredding. See docs/oauth.md."""
