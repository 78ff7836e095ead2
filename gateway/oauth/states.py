"""Consent links and their single-use `state`: who may be sent where, what is stored (only the
state's SHA-256, with an expiry and who asked), and how the callback consumes it exactly once.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gateway.accounts.models import Principal
from gateway.kit.db import Database
from gateway.kit.errors import BadRequest, GatewayError, NotFound
from gateway.kit.timeutil import as_utc, utcnow
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.scopes import Feature, features_granted, scopes_for
from gateway.oauth.flow import state_hash
from gateway.oauth.models import OAuthState
from gateway.policy.vocabulary import ActorKind
from gateway.settings import Settings

# -- return URLs -----------------------------------------------------------------------------------


class ReturnUrlRefused(BadRequest):
    code = "return_url_not_allowed"
    title = "The return URL is not allowed"


def check_return_url(url: str, allowlist: list[str]) -> str:
    """Accept `url` only if it starts with an allow-listed prefix at a boundary: after the
    prefix comes the end, or "/", "?" or "#" (so "https://crm.example" does not admit
    "https://crm.example.evil.net"). No credentials, no control characters, http(s) only."""
    if len(url) > 2000 or any(ord(c) < 0x21 or c in "\\\x7f" for c in url):
        raise ReturnUrlRefused("the return URL is malformed")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or "@" in parts.netloc:
        raise ReturnUrlRefused("the return URL must be an absolute http(s) URL without "
                               "credentials")
    for prefix in allowlist:
        if not prefix or not url.startswith(prefix):
            continue
        rest = url[len(prefix):]
        if prefix.endswith(("/", "?", "#")) or rest == "" or rest[0] in "/?#":
            return url
    raise ReturnUrlRefused("the return URL is not on the gateway's allow-list "
                           "(GATEWAY_CRM_REDIRECT_ALLOWLIST)")


def with_outcome(return_url: str, params: dict[str, str]) -> str:
    parts = urlsplit(return_url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# -- starting a connection -------------------------------------------------------------------------

# The stored return URL of a link that ends on the gateway's own result page (no CRM page).
OWN_RESULT_PAGE = ""


@dataclass(frozen=True)
class Initiator:
    """Who asked for the consent link, as the enforcement point saw them."""

    kind: str
    principal_id: uuid.UUID
    tenant_id: uuid.UUID
    connection_id: str
    purpose: str


@dataclass(frozen=True)
class ConsentLink:
    state_id: uuid.UUID
    url: str
    expires_at: datetime
    features: list[Feature]


def load_end_user(session: Session, tenant_id: uuid.UUID, principal_id: uuid.UUID) -> Principal:
    principal = session.get(Principal, principal_id)
    if (principal is None or principal.tenant_id != tenant_id
            or principal.kind != ActorKind.end_user.value):
        raise NotFound("no such end user in this tenant", code="end_user_not_found")
    if principal.disabled_at is not None:
        raise BadRequest("this end user is disabled", code="end_user_disabled")
    return principal


def start_connect(session: Session, settings: Settings, initiator: Initiator, *,
                  end_user_id: uuid.UUID, features: list[Feature], return_url: str | None,
                  mailbox: Mailbox | None = None, force_consent: bool = True) -> ConsentLink:
    """Record a single-use state (hashed) and return the link to the gateway's consent page.
    Without a return URL the browser ends on the gateway's own result page."""
    if return_url is not None:
        check_return_url(return_url, settings.crm_redirect_allowlist)
    load_end_user(session, initiator.tenant_id, end_user_id)
    wanted = sorted(set(features), key=list(Feature).index)
    return _new_link(session, settings, OAuthState(
        tenant_id=initiator.tenant_id, end_user_id=end_user_id, initiator_kind=initiator.kind,
        initiator_id=initiator.principal_id, initiator_connection=initiator.connection_id[:96],
        initiator_purpose=initiator.purpose,
        mailbox_id=mailbox.id if mailbox is not None else None,
        features=[f.value for f in wanted], scopes=scopes_for(wanted),
        force_consent=force_consent, return_url=return_url or OWN_RESULT_PAGE))


def retry_link(session: Session, settings: Settings, previous: OAuthState,
               mailbox_id: uuid.UUID | None = None) -> ConsentLink | None:
    """A fresh consent link asking for what `previous` asked for, for the gateway's own result
    page to offer ("try again", "connect again to add the missing features"): the same end user,
    initiator and purpose, so its callback is decided and logged exactly like the first one's.
    None when the end user or the initiator has been disabled meanwhile."""
    for principal_id in (previous.end_user_id, previous.initiator_id):
        principal = session.get(Principal, principal_id)
        if principal is None or principal.disabled_at is not None:
            return None
    return _new_link(session, settings, OAuthState(
        tenant_id=previous.tenant_id, end_user_id=previous.end_user_id,
        initiator_kind=previous.initiator_kind, initiator_id=previous.initiator_id,
        initiator_connection=previous.initiator_connection,
        initiator_purpose=previous.initiator_purpose,
        mailbox_id=mailbox_id or previous.mailbox_id, features=list(previous.features),
        scopes=list(previous.scopes), force_consent=True, return_url=OWN_RESULT_PAGE))


def _new_link(session: Session, settings: Settings, state: OAuthState) -> ConsentLink:
    secret = secrets.token_urlsafe(32)
    state.state_hash = state_hash(secret)
    state.expires_at = utcnow() + timedelta(seconds=settings.oauth_state_ttl_seconds)
    session.add(state)
    session.flush()
    url = f"{settings.public_base_url.rstrip('/')}/connect/{secret}"
    return ConsentLink(state_id=state.id, url=url, expires_at=state.expires_at,
                       features=[Feature(f) for f in state.features])


def reconnect_features(mailbox: Mailbox, wanted: list[Feature]) -> list[Feature]:
    """What a reconnect asks for: what the mailbox had plus what is wanted now (a revoked grant
    has to be asked for in full; incremental consent keeps the rest anyway)."""
    features = set(features_granted(mailbox.granted_scopes or ())) | set(wanted)
    return [f for f in Feature if f in features] or [Feature.read]


# -- states ----------------------------------------------------------------------------------------


class StateRefused(GatewayError):
    status = 400
    code = "oauth_state_invalid"
    title = "This connection link is not valid"


def _explain(found: OAuthState | None) -> StateRefused:
    if found is None:
        return StateRefused("this connection link is unknown; start again from the CRM")
    if found.used_at is not None:
        return StateRefused("this connection link was already used; start again from the CRM",
                            code="oauth_state_used")
    return StateRefused("this connection link has expired; start again from the CRM",
                        code="oauth_state_expired")


def _valid_secret(secret: str) -> bool:
    return 20 <= len(secret) <= 128 and re.fullmatch(r"[A-Za-z0-9_\-]+", secret) is not None


def pending_state(session: Session, secret: str) -> OAuthState:
    """The unused, unexpired state behind a consent-page link (not consumed)."""
    if not _valid_secret(secret):
        raise _explain(None)
    found = session.scalar(select(OAuthState).where(OAuthState.state_hash == state_hash(secret)))
    if found is None or found.used_at is not None or as_utc(found.expires_at) <= utcnow():
        raise _explain(found)
    return found


def consume_state(database: Database, session: Session, secret: str) -> OAuthState:
    """Mark the state used in its own, immediately committed transaction (so a replay is refused
    whatever happens next), then load it into the request's session."""
    if not _valid_secret(secret):
        raise _explain(None)
    digest = state_hash(secret)
    now = utcnow()
    with database.independent_session() as own:
        consumed = own.execute(
            update(OAuthState)
            .where(OAuthState.state_hash == digest, OAuthState.used_at.is_(None),
                   OAuthState.expires_at > now)
            .values(used_at=now).returning(OAuthState.id)).scalar_one_or_none()
    found = session.scalar(select(OAuthState).where(OAuthState.state_hash == digest))
    if consumed is None or found is None:
        raise _explain(found)
    return found


def purge_states(database: Database, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete consent states (used or not) that expired more than `older_than` ago."""
    with database.transaction() as session:
        result = session.execute(delete(OAuthState).where(
            OAuthState.expires_at < utcnow() - older_than))
        return int(getattr(result, "rowcount", 0) or 0)
