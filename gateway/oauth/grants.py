"""Storing what Google granted at the OAuth callback: the mailbox's tokens, sealed (their
lifecycle after that is gateway.mailboxes.tokens)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.crypto import CryptoService
from gateway.kit.timeutil import utcnow
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.mailboxes.tokens import token_binding
from gateway.oauth.flow import TokenGrant


def store_tokens(session: Session, crypto: CryptoService, mailbox: Mailbox, grant: TokenGrant,
                 *, client_id: str) -> OAuthToken:
    """Seal and save a fresh grant's tokens; a grant without a refresh token keeps the stored
    one (Google omits it when the user had already granted offline access)."""
    token = session.get(OAuthToken, mailbox.id)
    if token is None:
        if grant.refresh_token is None:
            raise ValueError("a first connection needs a refresh token")
        token = OAuthToken(mailbox_id=mailbox.id, tenant_id=mailbox.tenant_id,
                           client_id=client_id)
        token.refresh_token = crypto.seal_text(session, token_binding(token, "refresh_token"),
                                               grant.refresh_token)
        session.add(token)
    elif grant.refresh_token is not None:
        token.refresh_token = crypto.seal_text(session, token_binding(token, "refresh_token"),
                                               grant.refresh_token)
    token.client_id = client_id
    token.access_token = crypto.seal_text(session, token_binding(token, "access_token"),
                                          grant.access_token)
    token.access_expires_at = grant.expires_at
    token.scopes = list(grant.scopes)
    token.refreshed_at = utcnow()
    token.invalid_at = None
    token.invalid_reason = None
    session.flush()
    return token

