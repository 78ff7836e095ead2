"""Connecting and disconnecting Gmail: the callback, the consent page's data, disconnect.

The request owns the transaction; these functions only flush. Two writes deliberately commit on
their own: consuming a `state` (gateway.oauth.states: single use even if the rest of the
callback fails) and, in gateway.mailboxes.tokens, a mailbox turning `reauth_required`.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.accounts.models import Principal, Tenant
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.kit.errors import PolicyDenied, Unavailable
from gateway.kit.timeutil import utcnow
from gateway.mail.models import Message
from gateway.mailboxes import tokens
from gateway.mailboxes.address import address_binding, mailbox_email
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.mailboxes.scopes import Feature, features_granted, gmail_scopes_in
from gateway.oauth.flow import (
    ExchangeFailed,
    GoogleIdentity,
    GoogleOAuth,
    IdentityUnavailable,
    TokenGrant,
)
from gateway.oauth.grants import store_tokens
from gateway.oauth.models import OAuthState
from gateway.oauth.states import pending_state, with_outcome
from gateway.policy.enforcement import (
    Access,
    AccessRequest,
    Actor,
    Enforcer,
    Terminal,
)
from gateway.policy.resources import mailbox_bound, mailbox_connecting
from gateway.policy.vocabulary import Action, MailboxState
from gateway.settings import Settings

log = logging.getLogger(__name__)

SUBJECT_INDEX_KIND = "google_subject"



# -- the callback ----------------------------------------------------------------------------------


@dataclass
class CallbackOutcome:
    status: str  # connected | denied | error
    return_url: str
    mailbox_id: uuid.UUID | None = None
    reason: str | None = None
    missing: list[Feature] = field(default_factory=list)
    access: Access | None = None  # the callback's allow: it opens the result page's address

    def redirect_url(self) -> str:
        params = {"status": self.status}
        if self.mailbox_id is not None:
            params["mailbox_id"] = str(self.mailbox_id)
        if self.reason:
            params["reason"] = self.reason
        if self.missing:
            params["missing"] = ",".join(f.value for f in self.missing)
        return with_outcome(self.return_url, params)


class _Refused(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class CallbackContext:
    database: Database
    crypto: CryptoService
    google: GoogleOAuth
    enforcer: Enforcer
    terminal: Terminal


def _sanitise(reason: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]", "_", reason.lower())[:40]
    return cleaned or "error"


def complete_callback(session: Session, ctx: CallbackContext, state: OAuthState, secret: str,
                      *, code: str | None, error: str | None) -> CallbackOutcome:
    """Finish a consent whose state was just consumed; never raises for Google's or the user's
    answers, only for the gateway's own failures (which become problem responses)."""
    outcome = CallbackOutcome(status="error", return_url=state.return_url)
    try:
        if error is not None:
            raise _Refused("denied" if error == "access_denied" else "error", _sanitise(error))
        if not code:
            raise _Refused("error", "missing_code")
        _connect(session, ctx, state, secret, code, outcome)
    except _Refused as refused:
        outcome.status = refused.status
        outcome.reason = refused.reason
        log.info("oauth:consent:%s reason=%s", refused.status, refused.reason)
    state.outcome = outcome.status
    # The return URL is the CRM's free text (it may name the user) and has served its one
    # redirect: a used state keeps none.
    state.return_url = ""
    session.flush()
    return outcome


def _connect(session: Session, ctx: CallbackContext, state: OAuthState, secret: str,
             code: str, outcome: CallbackOutcome) -> None:
    end_user = session.get(Principal, state.end_user_id)
    initiator = session.get(Principal, state.initiator_id)
    if (end_user is None or end_user.disabled_at is not None or initiator is None
            or initiator.disabled_at is not None):
        raise _Refused("error", "principal_disabled")
    try:
        grant = ctx.google.exchange(secret, code, list(state.scopes))
    except ExchangeFailed as failed:
        raise _Refused("error", failed.reason) from None
    granted_gmail = gmail_scopes_in(grant.scopes)
    if not granted_gmail:
        raise _Refused("denied", "no_gmail_permission")
    try:
        identity = ctx.google.identity(grant.access_token)
    except IdentityUnavailable:
        raise _Refused("error", "identity_unavailable") from None
    mailbox = _target_mailbox(session, ctx.crypto, state, identity)
    if grant.refresh_token is None and (mailbox is None
                                        or not tokens.has_usable_token(session, mailbox)):
        raise _Refused("error", "no_refresh_token")
    wanted = [Feature(f) for f in state.features]
    missing = [f for f in wanted if f not in features_granted(grant.scopes)]
    mailbox_id = mailbox.id if mailbox is not None else uuid.uuid4()  # logged before it exists
    outcome.access = _authorize(session, ctx, state, mailbox_id, mailbox, grant, missing)
    created = mailbox is None
    mailbox = _save_mailbox(session, ctx.crypto, state, mailbox_id, mailbox, identity, grant)
    store_tokens(session, ctx.crypto, mailbox, grant, client_id=ctx.google.client_id)
    outcome.status = "connected"
    outcome.mailbox_id = mailbox.id
    outcome.missing = missing
    log.info("oauth:grant:%s mailbox=%s features=%s", "created" if created else "refreshed",
             mailbox.id, ",".join(f.value for f in features_granted(grant.scopes)))


def subject_index(crypto: CryptoService, tenant_id: uuid.UUID, subject: str) -> bytes:
    return crypto.blind_index(tenant_id, SUBJECT_INDEX_KIND, subject)


def _target_mailbox(session: Session, crypto: CryptoService, state: OAuthState,
                    identity: GoogleIdentity) -> Mailbox | None:
    """The mailbox this Google account already has in the tenant (None: a new one), refusing an
    account that belongs to another user or that is not the mailbox being reconnected."""
    index = subject_index(crypto, state.tenant_id, identity.subject)
    existing = session.scalar(select(Mailbox).where(Mailbox.tenant_id == state.tenant_id,
                                                    Mailbox.google_subject_index == index))
    if existing is not None and existing.owner_principal_id != state.end_user_id:
        raise _Refused("error", "account_connected_to_another_user")
    if state.mailbox_id is None:
        return existing
    target = session.get(Mailbox, state.mailbox_id)
    if target is None or target.data_deleted_at is not None:
        return existing  # the old mailbox is gone or shredded: connect afresh
    if existing is not None and existing.id != target.id:
        raise _Refused("error", "wrong_google_account")
    if existing is None and target.google_subject_index is not None:
        raise _Refused("error", "wrong_google_account")
    return target


def _authorize(session: Session, ctx: CallbackContext, state: OAuthState,
               mailbox_id: uuid.UUID, mailbox: Mailbox | None, grant: TokenGrant,
               missing: list[Feature]) -> Access:
    """The callback has no API key: the decision and the log entry are attributed to whoever
    asked for the consent link (kept on the state row), through the OAuth callback."""
    actor = _initiator_actor(session, state, "oauth_callback")
    resource = mailbox_connecting(state.tenant_id, mailbox_id, state.end_user_id, grant.scopes,
                                  mailbox)
    detail: dict[str, Any] = {
        "stage": "oauth_callback", "oauth_state_id": str(state.id),
        "features_granted": [f.value for f in features_granted(grant.scopes)],
        "features_missing": [f.value for f in missing],
        "reconnect": mailbox is not None}
    try:
        return ctx.enforcer.authorize(session, AccessRequest(
            actor=actor, purpose=state.initiator_purpose, action=Action.oauth_connect.value,
            resource=resource, terminal=ctx.terminal, detail=detail))
    except PolicyDenied:
        raise _Refused("error", "policy_denied") from None
    except Unavailable:
        session.rollback()
        raise _Refused("error", "temporarily_unavailable") from None


def _initiator_actor(session: Session, state: OAuthState, channel: str) -> Actor:
    initiator = session.get(Principal, state.initiator_id)
    groups = tuple(initiator.groups or ()) if initiator is not None else ()
    return Actor(kind=state.initiator_kind, id=str(state.initiator_id),
                 tenant=str(state.tenant_id), groups=groups,
                 connection_id=f"{channel}:{state.initiator_connection}"[:128])


def _save_mailbox(session: Session, crypto: CryptoService, state: OAuthState,
                  mailbox_id: uuid.UUID, mailbox: Mailbox | None, identity: GoogleIdentity,
                  grant: TokenGrant) -> Mailbox:
    now = utcnow()
    if mailbox is None:
        mailbox = Mailbox(id=mailbox_id, tenant_id=state.tenant_id,
                          owner_principal_id=state.end_user_id)
        try:
            with session.begin_nested():
                mailbox.google_subject_index = subject_index(crypto, state.tenant_id,
                                                             identity.subject)
                session.add(mailbox)
                session.flush()
        except IntegrityError:
            # A concurrent callback for the same account won the race; this one stands down.
            raise _Refused("error", "concurrent_connection") from None
    elif mailbox.google_subject_index is None:
        mailbox.google_subject_index = subject_index(crypto, state.tenant_id, identity.subject)
    mailbox.state = MailboxState.active.value
    mailbox.state_reason = None
    mailbox.granted_scopes = sorted(set(grant.scopes))
    mailbox.connected_at = now
    mailbox.sync_requested_at = now  # the sync worker picks it up (initial or catch-up sync)
    if identity.email:
        mailbox.email_address = crypto.seal_text(session, address_binding(mailbox),
                                                 identity.email)
    session.flush()
    return mailbox


def _login_hint(session: Session, crypto: CryptoService, enforcer: Enforcer,
                terminal: Terminal, state: OAuthState, mailbox: Mailbox) -> str | None:
    """The reconnected mailbox's address, to preselect the account at Google. Opening it is
    decided and logged like the callback (`oauth.connect`, attributed to whoever asked for
    the link, stage `consent_page`); refused or undecidable, the page goes without a hint."""
    if mailbox.email_address is None or mailbox.data_deleted_at is not None:
        return None
    request = AccessRequest(
        actor=_initiator_actor(session, state, "oauth_consent_page"),
        purpose=state.initiator_purpose, action=Action.oauth_connect.value,
        resource=mailbox_bound(mailbox),
        terminal=terminal,
        detail={"stage": "consent_page", "oauth_state_id": str(state.id)})
    try:
        access = enforcer.authorize(session, request)
    except PolicyDenied:
        return None
    except Unavailable:
        session.rollback()
        return None
    return mailbox_email(session, crypto, mailbox, access)


# -- the consent page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentPageData:
    tenant_name: str
    account_label: str
    features: list[Feature]
    google_url: str
    cancel_url: str
    expires_at: datetime


def consent_page_data(session: Session, settings: Settings, crypto: CryptoService,
                      google: GoogleOAuth, secret: str, *, enforcer: Enforcer,
                      terminal: Terminal) -> ConsentPageData:
    state = pending_state(session, secret)
    tenant = session.get(Tenant, state.tenant_id)
    end_user = session.get(Principal, state.end_user_id)
    login_hint = None
    if state.mailbox_id is not None:
        mailbox = session.get(Mailbox, state.mailbox_id)
        if mailbox is not None:
            login_hint = _login_hint(session, crypto, enforcer, terminal, state, mailbox)
    google_url = google.authorization_url(secret, list(state.scopes),
                                          force_consent=state.force_consent,
                                          login_hint=login_hint)
    cancel = (f"{settings.public_base_url.rstrip('/')}/oauth/callback?"
              + urlencode({"state": secret, "error": "access_denied"}))
    return ConsentPageData(
        tenant_name=tenant.name if tenant is not None else "",
        account_label=(end_user.display_name or end_user.subject) if end_user else "",
        features=[Feature(f) for f in state.features], google_url=google_url,
        cancel_url=cancel, expires_at=state.expires_at)


# -- disconnect ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisconnectResult:
    mailbox_id: uuid.UUID
    state: str
    revoked_at_google: str  # revoked | already_invalid | failed | no_token
    tokens_deleted: bool
    data_deleted: bool


def _log_shredded(session: Session, mailbox: Mailbox) -> None:
    """The crypto-shredding itself, as an entry of its own (`keys:data_key:shredded`), committed
    with the erasure: the evidence that the mailbox's data key is gone."""
    from gateway.audit.operations import Operation
    from gateway.audit.writer import log_system_operation

    log_system_operation(session, Operation.keys_data_key_shredded, job="erasure",
                         purpose="user_rights", tenant_id=mailbox.tenant_id,
                         mailbox_id=mailbox.id, resource_type="mailbox",
                         resource_ids=(str(mailbox.id),))


def disconnect(session: Session, crypto: CryptoService, google: GoogleOAuth, mailbox: Mailbox,
               *, delete_data: bool = True) -> DisconnectResult:
    """Revoke at Google, delete the tokens, stop sync and, by default, delete the synced data
    and crypto-shred the mailbox (its data key is destroyed last, so backups become unreadable
    too). The operation log is not touched: it keeps its entries for the year."""
    revoked = "no_token"
    token = session.get(OAuthToken, mailbox.id)
    if token is not None:
        refresh_token = tokens.open_refresh_token(session, crypto, token)
        revoked = google.revoke(refresh_token)
    tokens_deleted = tokens.delete_tokens(session, mailbox)
    session.execute(delete(OAuthState).where(OAuthState.mailbox_id == mailbox.id,
                                             OAuthState.used_at.is_(None)))
    mailbox.state = MailboxState.disconnected.value
    mailbox.state_reason = "disconnected"
    mailbox.sync_requested_at = None
    shred = delete_data and mailbox.data_deleted_at is None
    if shred:
        session.execute(delete(Message).where(Message.mailbox_id == mailbox.id))
        mailbox.email_address = None
        mailbox.google_subject_index = None  # the account may connect again: a new mailbox
        mailbox.granted_scopes = []
        mailbox.data_deleted_at = utcnow()
    session.flush()
    if shred:
        crypto.destroy_mailbox(session, mailbox.tenant_id, mailbox.id)
        _log_shredded(session, mailbox)
    log.info("oauth:grant:disconnected mailbox=%s revoked=%s data_deleted=%s", mailbox.id,
             revoked, shred)
    return DisconnectResult(mailbox_id=mailbox.id, state=mailbox.state,
                            revoked_at_google=revoked, tokens_deleted=tokens_deleted,
                            data_deleted=mailbox.data_deleted_at is not None)
