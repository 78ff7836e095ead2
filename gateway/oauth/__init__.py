"""Connecting Gmail: Google OAuth consent (code flow, PKCE, single-use hashed state) for the
granular scopes of each feature, storing the granted tokens, disconnect with revocation and
crypto-shredding. The tokens' lifecycle after the callback (refresh, keep-alive, invalid_grant →
reauth_required) is the mailbox's: gateway.mailboxes.tokens. See docs/oauth.md."""
