"""The token lifecycle: hand out refreshed `Credentials`, notice dead refresh tokens, keep idle
ones alive, delete. The OAuth callback stores a fresh grant's tokens (gateway.oauth.grants).

Google kills a refresh token when the user revokes access, changes their password (Gmail
scopes), leaves it unused for six months, past 100 tokens per account and client, or after 7 days
for an app in testing; the token endpoint then answers `invalid_grant`. The gateway turns that
into mailbox state `reauth_required` (sync stops, the policy refuses every Gmail call, the CRM
sees the state and a reconnect URL) and keeps the dead token out of use until the user
reconnects. `keep_alive` refreshes tokens idle for `oauth_keepalive_idle_days` so the six-month
rule never bites a mailbox that is merely quiet.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2.credentials import Credentials
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from gateway.crypto import Binding, CryptoService
from gateway.kit.db import Database
from gateway.kit.errors import GatewayError, Unavailable, UpstreamError
from gateway.kit.timeutil import as_utc, utcnow
from gateway.mailboxes import events  # registers the webhook events of state changes
from gateway.mailboxes.models import TOKENS_TABLE, Mailbox, OAuthToken
from gateway.policy.vocabulary import MailboxState
from gateway.settings import Settings

log = logging.getLogger(__name__)

# Refresh this long before Google's expiry so a call never starts with a token about to die.
EXPIRY_MARGIN = timedelta(minutes=5)
INVALID_GRANT = "invalid_grant"


class MailboxNeedsUser(GatewayError):
    """The mailbox cannot reach Gmail until its user reconnects (reauth_required/disconnected)."""

    status = 403
    code = "mailbox_reauth_required"
    title = "The mailbox must be reconnected"

    def __init__(self, mailbox: Mailbox, detail: str, *, base_url: str = "") -> None:
        path = mailbox.reconnect_url
        # A restricted mailbox is the user's choice (processing restricted), not a dead token.
        code = "mailbox_restricted" if mailbox.state == MailboxState.restricted else None
        super().__init__(detail, code=code, extra={
            "mailbox_id": str(mailbox.id), "mailbox_state": mailbox.state,
            "state_reason": mailbox.state_reason,
            "reconnect_url": base_url.rstrip("/") + path if path else None})


def token_binding(token: OAuthToken, column: str) -> Binding:
    """What a token column is sealed under."""
    return Binding.of(token.tenant_id, token.mailbox_id, TOKENS_TABLE, column, token.mailbox_id)



def has_usable_token(session: Session, mailbox: Mailbox) -> bool:
    token = session.get(OAuthToken, mailbox.id)
    return token is not None and token.invalid_at is None


def open_refresh_token(session: Session, crypto: CryptoService, token: OAuthToken) -> str:
    return crypto.open_owned_secret(session, token_binding(token, "refresh_token"),
                                    token.refresh_token)


def delete_tokens(session: Session, mailbox: Mailbox) -> bool:
    token = session.get(OAuthToken, mailbox.id)
    if token is None:
        return False
    session.delete(token)
    session.flush()
    return True


# -- refreshing ----------------------------------------------------------------------------------


class _InvalidGrant(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _error_code(exc: RefreshError) -> str | None:
    for arg in exc.args[1:]:
        if isinstance(arg, dict) and isinstance(arg.get("error"), str):
            return str(arg["error"])
    return None


def _client(settings: Settings) -> tuple[str, str]:
    if not settings.google_client_id or settings.google_client_secret is None:
        raise Unavailable("Google OAuth is not configured", code="google_not_configured")
    return settings.google_client_id, settings.google_client_secret.get_secret_value()


def _refresh(session: Session, crypto: CryptoService, settings: Settings, token: OAuthToken,
             transport: GoogleRequest) -> Credentials:
    """One refresh through google-auth; persists the new access token (sealed)."""
    client_id, client_secret = _client(settings)
    if token.client_id != client_id:
        raise _InvalidGrant("oauth_client_changed")
    refresh_token = open_refresh_token(session, crypto, token)
    credentials = Credentials(  # type: ignore[no-untyped-call]
        None, refresh_token=refresh_token, token_uri=settings.google_token_uri,
        client_id=client_id, client_secret=client_secret)
    try:
        credentials.refresh(transport)  # type: ignore[no-untyped-call]
    except RefreshError as exc:
        code = _error_code(exc)
        if code == INVALID_GRANT:
            raise _InvalidGrant(INVALID_GRANT) from None
        log.warning("oauth:token:refresh_failed error=%s", code or "unknown")
        raise UpstreamError("Google refused to refresh the mailbox's access token",
                            code="google_token_refresh_failed") from None
    except TransportError:
        raise Unavailable("Google's token endpoint is unreachable; retry later",
                          code="google_unreachable") from None
    now = utcnow()
    token.access_token = crypto.seal_text(session, token_binding(token, "access_token"),
                                          str(credentials.token))
    expiry = credentials.expiry
    token.access_expires_at = expiry.replace(tzinfo=UTC) if expiry is not None else None
    if credentials.refresh_token and credentials.refresh_token != refresh_token:
        # Google may hand out a new refresh token on refresh; the old one then stops working.
        token.refresh_token = crypto.seal_text(session, token_binding(token, "refresh_token"),
                                               str(credentials.refresh_token))
    token.refreshed_at = now
    session.flush()
    return credentials


def credentials_for(session: Session, mailbox: Mailbox, *, crypto: CryptoService,
                    settings: Settings, database: Database | None = None,
                    force_refresh: bool = False) -> Credentials:
    """Google credentials for `mailbox`, refreshed if the access token is within five minutes of
    expiry. A dead refresh token flips the mailbox to `reauth_required` and raises
    `MailboxNeedsUser`; that state change is committed on its own when `database` is given (so
    the caller's rollback cannot undo it), else it is left in `session`."""
    if mailbox.state != MailboxState.active:
        raise MailboxNeedsUser(mailbox, f"the mailbox is {mailbox.state}; its user must "
                                        "reconnect Gmail before the gateway can call Google",
                               base_url=settings.public_base_url)
    token = session.get(OAuthToken, mailbox.id)
    if token is None or token.invalid_at is not None:
        mark_reauth_required(session, mailbox, "no_usable_token", database=database)
        raise MailboxNeedsUser(mailbox, "the mailbox has no usable Google token; its user must "
                                        "reconnect Gmail", base_url=settings.public_base_url)
    client_id, client_secret = _client(settings)
    expires = token.access_expires_at
    if (not force_refresh and token.access_token is not None and expires is not None
            and as_utc(expires) - EXPIRY_MARGIN > utcnow() and token.client_id == client_id):
        return Credentials(  # type: ignore[no-untyped-call]
            crypto.open_owned_secret(session, token_binding(token, "access_token"),
                                     token.access_token),
            refresh_token=open_refresh_token(session, crypto, token),
            token_uri=settings.google_token_uri, client_id=client_id,
            client_secret=client_secret,
            expiry=as_utc(expires).replace(tzinfo=None))  # google-auth wants naive UTC
    try:
        return _refresh(session, crypto, settings, token, GoogleRequest())
    except _InvalidGrant as dead:
        mark_reauth_required(session, mailbox, dead.reason, database=database)
        raise MailboxNeedsUser(mailbox, "Google no longer accepts this mailbox's refresh token "
                                        "(access revoked, password changed or token expired); "
                                        "its user must reconnect Gmail",
                               base_url=settings.public_base_url) from None


def mark_reauth_required(session: Session, mailbox: Mailbox, reason: str, *,
                         database: Database | None = None) -> None:
    """Stop using the mailbox's tokens until the user reconnects."""
    now = utcnow()
    log.warning("oauth:grant:invalid mailbox=%s reason=%s", mailbox.id, reason)
    if database is not None and _mark_independently(database, mailbox.id, reason, now):
        for name, value in (("state", MailboxState.reauth_required.value),
                            ("state_reason", reason), ("sync_requested_at", None)):
            set_committed_value(mailbox, name, value)
        token = session.get(OAuthToken, mailbox.id)
        if token is not None:
            set_committed_value(token, "invalid_at", now)
            set_committed_value(token, "invalid_reason", reason)
            set_committed_value(token, "access_token", None)
        return
    mailbox.state = MailboxState.reauth_required.value
    mailbox.state_reason = reason
    mailbox.sync_requested_at = None
    token = session.get(OAuthToken, mailbox.id)
    if token is not None:
        token.invalid_at = now
        token.invalid_reason = reason
        token.access_token = None
    session.flush()


def _mark_independently(database: Database, mailbox_id: uuid.UUID, reason: str,
                        now: datetime) -> bool:
    """Commit the state change in its own transaction; False if the rows are locked by the
    caller (it then goes into the caller's session instead)."""
    try:
        with database.independent_session() as own:
            if own.get_bind().dialect.name == "postgresql":
                own.execute(text("SET LOCAL lock_timeout = '2s'"))
            flipped = own.execute(update(Mailbox).where(
                Mailbox.id == mailbox_id, Mailbox.state == MailboxState.active.value).values(
                state=MailboxState.reauth_required.value, state_reason=reason,
                sync_requested_at=None, updated_at=now))
            if getattr(flipped, "rowcount", 0):  # a Core update: no mapper event
                events.mailbox_state_changed(own, mailbox_id, MailboxState.active.value)
            own.execute(update(OAuthToken).where(OAuthToken.mailbox_id == mailbox_id).values(
                invalid_at=now, invalid_reason=reason, access_token=None, updated_at=now))
        return True
    except OperationalError:
        log.warning("oauth:grant:invalid could not be committed on its own; left to the caller")
        return False


# -- keep-alive ----------------------------------------------------------------------------------


@dataclass
class KeepAliveReport:
    refreshed: int = 0
    reauth_required: int = 0
    failed: int = 0
    mailboxes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"refreshed": self.refreshed, "reauth_required": self.reauth_required,
                "failed": self.failed}


def keep_alive(database: Database, crypto: CryptoService, settings: Settings, *,
               idle_days: int | None = None, limit: int = 500,
               now: datetime | None = None) -> KeepAliveReport:
    """Refresh the tokens of active mailboxes that Google has not seen for `idle_days`.

    Safe to run from any number of workers at once: each mailbox is refreshed in its own
    transaction under `FOR UPDATE SKIP LOCKED` (PostgreSQL), so two workers never refresh the
    same token and a slow one never blocks the others."""
    days = idle_days if idle_days is not None else settings.oauth_keepalive_idle_days
    cutoff = (now or utcnow()) - timedelta(days=days)
    report = KeepAliveReport()
    with database.transaction() as session:
        candidates = list(session.scalars(
            select(OAuthToken.mailbox_id).join(Mailbox, Mailbox.id == OAuthToken.mailbox_id)
            .where(OAuthToken.invalid_at.is_(None), OAuthToken.refreshed_at < cutoff,
                   Mailbox.state == MailboxState.active.value)
            .order_by(OAuthToken.refreshed_at).limit(limit)))
    transport = GoogleRequest()
    for mailbox_id in candidates:
        try:
            with database.transaction() as session:
                token = session.scalar(
                    select(OAuthToken).where(OAuthToken.mailbox_id == mailbox_id,
                                             OAuthToken.invalid_at.is_(None),
                                             OAuthToken.refreshed_at < cutoff)
                    .with_for_update(skip_locked=True))
                mailbox = session.get(Mailbox, mailbox_id)
                if token is None or mailbox is None or mailbox.state != MailboxState.active:
                    continue  # another worker has it, or it changed meanwhile
                try:
                    _refresh(session, crypto, settings, token, transport)
                    report.refreshed += 1
                except _InvalidGrant as dead:
                    mark_reauth_required(session, mailbox, dead.reason)
                    report.reauth_required += 1
                report.mailboxes.append(str(mailbox_id))
        except GatewayError:
            report.failed += 1
    log.info("oauth:token:keep_alive refreshed=%d reauth_required=%d failed=%d",
             report.refreshed, report.reauth_required, report.failed)
    return report


def run_keep_alive(settings: Settings | None = None) -> KeepAliveReport:
    """Entry point for a worker or a CLI command: build what `keep_alive` needs and run it."""
    from gateway.runtime import build_runtime

    settings = settings or Settings()
    with build_runtime(settings) as runtime:
        return keep_alive(runtime.database, runtime.crypto, settings)
