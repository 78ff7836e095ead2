"""The pages' way in and out: the one-time link (`GET /session/{token}`, public: the link's
secret is the credential) sets the session cookie and sends the person to their persona's home;
`POST /session/logout` ends the session (and says so). The stylesheet is served here too
(public: no data).

Opening a link is decided and logged like any access (`session.open`, by the session's
principal, under the persona's purpose); a link that cannot be opened is refused and logged
(`deny`, `not_evaluated`) without the token, which is a secret.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.kit.errors import NotFound
from gateway.kit.timeutil import utcnow
from gateway.pages.auth import SESSION_COOKIE
from gateway.pages.kit import STATIC_DIR, STATIC_PATH, PageRouter, render
from gateway.policy.enforcement import AccessRequest, Enforcer, Resource
from gateway.policy.refusals import ANONYMOUS, log_refusal
from gateway.policy.terminal import terminal_of
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.sessions import service
from gateway.sessions.personas import PERSONAS, purpose_of
from gateway.sessions.service import SessionRefused
from gateway.settings import Environment, Settings

router = PageRouter(tags=["pages"])
RESOURCE_TYPE = "page_session"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
                ".png": "image/png"}
STATIC_FILES = frozenset(p.name for p in STATIC_DIR.iterdir()
                         if p.is_file() and p.suffix in STATIC_TYPES)


def secure_cookies(settings: Settings) -> bool:
    """`Secure` cookies in production and behind https; plain http only in dev and test."""
    return (settings.environment is Environment.prod
            or settings.public_base_url.startswith("https://"))


def _refuse(request: Request, session: Session, exc: SessionRefused) -> None:
    session.rollback()
    request.scope["path_params"] = {}  # the token is a secret: never in the log
    known = exc.caller
    log_refusal(request, exc, enforcer=runtime_of(request).enforcer,
                actor=known.actor() if known is not None else ANONYMOUS,
                purpose=purpose_of(known.kind) if known is not None else None,
                action=Action.session_open.value)


def open_session(token: str, request: Request, session: SessionDep) -> Response:
    pepper: bytes = runtime_of(request).api_key_pepper
    now = utcnow()
    try:
        page_session = service.find_link(session, pepper, token, now)
    except SessionRefused as exc:
        _refuse(request, session, exc)
        raise
    caller = service.caller_of(page_session)
    persona = PERSONAS[caller.kind]
    enforcer: Enforcer = runtime_of(request).enforcer
    enforcer.authorize(session, AccessRequest(
        actor=caller.actor(), purpose=persona.purpose, action=Action.session_open.value,
        resource=Resource(type=RESOURCE_TYPE, tenant=str(page_session.tenant_id),
                          owner=str(page_session.principal_id), ids=(str(page_session.id),)),
        terminal=terminal_of(request)))
    cookie = service.open_link(session, pepper, page_session, now)
    settings: Settings = runtime_of(request).settings
    response = RedirectResponse(persona.home, status_code=303)
    lifetime = int((page_session.expires_at - now).total_seconds())
    response.set_cookie(SESSION_COOKIE, cookie, max_age=lifetime, path="/", httponly=True,
                        samesite="lax", secure=secure_cookies(settings))
    return response


def session_of(session: Session, caller: Caller, request: Request) -> Resource:
    """The caller's own current session."""
    found = service.get(session, caller.tenant_id, caller.api_key_prefix)
    request.state.page_session = found
    return Resource(type=RESOURCE_TYPE, tenant=str(found.tenant_id),
                    owner=str(found.principal_id), ids=(str(found.id),))


def logout(request: Request, session: SessionDep) -> Response:
    service.revoke(session, request.state.page_session)
    response = render(request, "ended.html")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise NotFound("no such file", code="not_found")
    path = STATIC_DIR / name
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix],
                        headers={"Cache-Control": "no-cache"})


router.add("GET", "/session/{token}", open_session,
           public="a person's one-time session link: its single-use secret is the credential; "
                  "the opening is decided and logged (session.open), refusals are logged")
router.add("POST", "/session/logout", logout, action=Action.session_revoke, resource=session_of,
           purpose={kind: persona.purpose for kind, persona in PERSONAS.items()})
router.add("GET", STATIC_PATH + "/{name}", static_file,
           public="the pages' stylesheet and scripts: files of the gateway, no data")
