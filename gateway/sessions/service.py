"""Page sessions: create (a one-time link), open (link → cookie), authenticate (cookie →
`Caller`), revoke. Only keyed hashes (HMAC-SHA256 under the API-key pepper) of the link token
and of the cookie are stored. Only flushes: the caller owns the transaction."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller
from gateway.accounts.models import Principal
from gateway.kit.errors import GatewayError, NotFound, ValidationFailed
from gateway.kit.timeutil import as_utc, utcnow
from gateway.sessions.models import PageSession
from gateway.sessions.personas import persona_of

LINK_PREFIX = "gwl_"
LINK_TTL = timedelta(minutes=5)
DEFAULT_SESSION_TTL = timedelta(hours=1)
MAX_SESSION_TTL = timedelta(hours=12)
MIN_SESSION_TTL = timedelta(minutes=5)

_Row = TypeVar("_Row", Principal, PageSession)


class SessionRefused(GatewayError):
    """A page request whose session cookie cannot be used (401), or a link that cannot be
    opened (404 unknown, 410 used or expired). `caller` names the principal when known."""

    status = 401
    code = "session_required"
    title = "Session required"

    def __init__(self, detail: str, *, code: str, status: int = 401,
                 caller: Caller | None = None) -> None:
        super().__init__(detail, code=code, status=status)
        self.caller = caller


@dataclass(frozen=True)
class IssuedLink:
    """A new session's one-time link token (shown once, never stored)."""

    page_session: PageSession
    token: str


def keyed_hash(pepper: bytes, secret: str) -> bytes:
    return hmac.new(pepper, secret.encode("utf-8"), hashlib.sha256).digest()


def csrf_token(pepper: bytes, cookie: str) -> str:
    """The forms' token of the session whose cookie is `cookie`: derived, never stored, and
    unknowable without the HttpOnly cookie."""
    return hmac.new(pepper, b"csrf\x00" + cookie.encode("utf-8"), hashlib.sha256).hexdigest()


def caller_of(page_session: PageSession) -> Caller:
    principal = page_session.principal
    return Caller(principal_id=principal.id, tenant_id=principal.tenant_id, kind=principal.kind,
                  subject=principal.subject, groups=tuple(principal.groups or ()),
                  api_key_prefix=str(page_session.id), credential="session")


def _in_tenant(session: Session, model: type[_Row], tenant_id: uuid.UUID, raw_id: str,
               noun: str) -> _Row:
    """The row of the caller's tenant with this id; 404 `<noun>_not_found` otherwise (a
    malformed id, an unknown one and another tenant's alike)."""
    try:
        found = session.get(model, uuid.UUID(raw_id))
    except ValueError:
        found = None
    if found is None or found.tenant_id != tenant_id:
        raise NotFound(f"no such {noun}", code=f"{noun}_not_found")
    return found


def target_principal(session: Session, tenant_id: uuid.UUID, principal_id: str) -> Principal:
    """A principal of the caller's tenant (404 otherwise, another tenant's included)."""
    return _in_tenant(session, Principal, tenant_id, principal_id, "principal")


def create(session: Session, pepper: bytes, principal: Principal, *, ttl: timedelta | None,
           created_by: uuid.UUID | None, now: datetime | None = None) -> IssuedLink:
    persona = persona_of(principal.kind)
    if persona is None:
        raise ValidationFailed(f"a {principal.kind} has no pages; sessions are for end users, "
                               "operators and reviewers", code="no_pages_for_kind")
    if principal.disabled_at is not None:
        raise ValidationFailed("the principal is disabled", code="principal_disabled")
    ttl = ttl or DEFAULT_SESSION_TTL
    if not MIN_SESSION_TTL <= ttl <= MAX_SESSION_TTL:
        raise ValidationFailed("a session lasts 5 minutes to 12 hours")
    now = now or utcnow()
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    page_session = PageSession(
        tenant_id=principal.tenant_id, principal_id=principal.id, persona=persona.name,
        created_by=created_by, link_hash=keyed_hash(pepper, token),
        link_expires_at=now + LINK_TTL, expires_at=now + ttl)
    session.add(page_session)
    session.flush()
    return IssuedLink(page_session=page_session, token=token)


def find_link(session: Session, pepper: bytes, token: str, now: datetime) -> PageSession:
    """The session a link opens; unknown (404), used or expired (410) links are refused."""
    found = None
    if token.startswith(LINK_PREFIX) and len(token) < 100:
        found = session.scalar(select(PageSession).where(
            PageSession.link_hash == keyed_hash(pepper, token)))
    if found is None:
        raise SessionRefused("this link is not valid; ask for a new one where you found it",
                             code="session_link_unknown", status=404)
    caller = caller_of(found)
    if found.opened_at is not None:
        raise SessionRefused("this link was already used; ask for a new one",
                             code="session_link_used", status=410, caller=caller)
    if as_utc(found.link_expires_at) <= now or found.revoked_at is not None:
        raise SessionRefused("this link has expired; ask for a new one",
                             code="session_link_expired", status=410, caller=caller)
    if found.principal.disabled_at is not None:
        raise SessionRefused("your account is disabled", code="principal_disabled",
                             status=403, caller=caller)
    return found


def open_link(session: Session, pepper: bytes, page_session: PageSession,
              now: datetime) -> str:
    """Spend the link: the session begins, and its cookie value is returned (never stored)."""
    cookie = secrets.token_urlsafe(32)
    page_session.opened_at = now
    page_session.session_hash = keyed_hash(pepper, cookie)
    session.flush()
    return cookie


def authenticate(session: Session, pepper: bytes, cookie: str | None,
                 now: datetime) -> tuple[PageSession, Caller]:
    """The session (and its `Caller`) a page request's cookie belongs to."""
    if not cookie:
        raise SessionRefused("open this page through the link your CRM gives you",
                             code="session_required")
    found = None
    if len(cookie) < 100:
        found = session.scalar(select(PageSession).where(
            PageSession.session_hash == keyed_hash(pepper, cookie)))
    if found is None:
        raise SessionRefused("your session is not valid; open the page again from your CRM",
                             code="session_invalid")
    caller = caller_of(found)
    if found.revoked_at is not None:
        raise SessionRefused("your session has ended; open the page again from your CRM",
                             code="session_revoked", caller=caller)
    if as_utc(found.expires_at) <= now:
        raise SessionRefused("your session has expired; open the page again from your CRM",
                             code="session_expired", caller=caller)
    if found.principal.disabled_at is not None:
        raise SessionRefused("your account is disabled", code="principal_disabled",
                             caller=caller)
    return found, caller


def get(session: Session, tenant_id: uuid.UUID, session_id: str) -> PageSession:
    return _in_tenant(session, PageSession, tenant_id, session_id, "session")


def revoke(session: Session, page_session: PageSession, now: datetime | None = None) -> None:
    if page_session.revoked_at is None:
        page_session.revoked_at = now or utcnow()
        session.flush()
