"""Who is behind a page request: the `gw_session` cookie → the session's principal, as the same
`Caller` an API key gives (`credential="session"`). And the CSRF check of every unsafe request.

A refusal (no cookie, an unknown, expired or revoked session, a bad CSRF token) is logged as a
deny under the route's action, exactly as an API key's refusal is (gateway/policy/refusals.py).
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.accounts.deps import Caller, SessionDep
from gateway.kit.errors import GatewayError
from gateway.kit.timeutil import utcnow
from gateway.policy.enforcement import Actor
from gateway.policy.refusals import ANONYMOUS, log_refusal
from gateway.runtime import runtime_of
from gateway.sessions import service
from gateway.sessions.personas import purpose_of
from gateway.sessions.service import SessionRefused

SESSION_COOKIE = "gw_session"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(GatewayError):
    status = 403
    code = "csrf_failed"
    title = "The form could not be accepted"


def _log(request: Request, session: Session, exc: GatewayError, actor: Actor,
         purpose: str | None) -> None:
    session.rollback()
    log_refusal(request, exc, enforcer=runtime_of(request).enforcer, actor=actor,
                purpose=purpose)


def _lookup(session: Session, pepper: bytes, cookie: str | None) -> tuple[Caller, str]:
    found, caller = service.authenticate(session, pepper, cookie, utcnow())
    return caller, found.principal.display_name or found.principal.subject


async def page_caller(request: Request, session: SessionDep) -> Caller:
    """The caller behind the request's session cookie; a refusal (401) is logged as a deny."""
    pepper: bytes = runtime_of(request).api_key_pepper
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        caller, name = await run_in_threadpool(_lookup, session, pepper, cookie)
    except SessionRefused as exc:
        known = exc.caller
        actor = known.actor() if known is not None else ANONYMOUS
        purpose = purpose_of(known.kind) if known is not None else None
        await run_in_threadpool(_log, request, session, exc, actor, purpose)
        raise
    request.state.caller = caller
    request.state.person_name = name  # what the pages call the signed-in person
    request.state.csrf_token = service.csrf_token(pepper, cookie or "")
    return caller


PageCallerDep = Annotated[Caller, Depends(page_caller)]


def _same_origin(request: Request) -> bool:
    """A browser says where a form was posted from: `Sec-Fetch-Site` (Chromium, Firefox,
    Safari) must be `same-origin`; else an `Origin` other than `null` (sent as `null` under
    `Referrer-Policy: no-referrer`) must be this gateway's. Without either the token decides."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    settings = runtime_of(request).settings
    mine = {f"{request.url.scheme}://{request.url.netloc}",
            "{0.scheme}://{0.netloc}".format(urlsplit(settings.public_base_url))}
    return origin.rstrip("/") in mine


async def verify_csrf(request: Request, caller: PageCallerDep, session: SessionDep) -> None:
    """Unsafe methods carry the session's CSRF token in the form (`csrf_token`), from a page
    of this gateway (Origin). Runs before the decision: a forged form is refused and logged,
    never decided."""
    if request.method in SAFE_METHODS:
        return
    expected: str = request.state.csrf_token
    sent = ""
    if request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    else:
        sent = request.headers.get("x-csrf-token", "")
    if not (_same_origin(request) and sent and hmac.compare_digest(sent, expected)):
        exc = CsrfRefused("the form has expired or did not come from this page; reload the "
                          "page and try again")
        await run_in_threadpool(_log, request, session, exc, caller.actor(),
                                purpose_of(caller.kind))
        raise exc
