"""The page sessions API: the CRM backend asks for a one-time link to one of its people's pages
(`session.create`) and can end a session (`session.revoke`). docs/pages.md."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.policy.enforcement import Resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.sessions import service
from gateway.sessions.schemas import SessionCreate, SessionLink
from gateway.settings import Settings

router = GuardedRouter(prefix="/v1/sessions", tags=["sessions"])
RESOURCE_TYPE = "page_session"
LINK_PATH = "/session/"


def _body_principal(request: Request) -> str | None:
    """The body's `principal_id` as sent (the body was read before the guard ran); anything
    malformed is left to the body's validation."""
    try:
        body = json.loads(getattr(request, "_body", b"") or b"null")
    except ValueError:
        return None
    value = body.get("principal_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def target_resource(session: Session, caller: Caller, request: Request) -> Resource:
    """The person the link is for: a principal of the caller's tenant (404 otherwise, logged)."""
    wanted = _body_principal(request)
    if wanted is None:
        return Resource(type=RESOURCE_TYPE, tenant=str(caller.tenant_id))
    principal = service.target_principal(session, caller.tenant_id, wanted)
    request.state.target = principal
    return Resource(type=RESOURCE_TYPE, tenant=str(principal.tenant_id), owner=str(principal.id))


def session_resource(session: Session, caller: Caller, request: Request) -> Resource:
    found = service.get(session, caller.tenant_id, str(request.path_params["session_id"]))
    request.state.page_session = found
    return Resource(type=RESOURCE_TYPE, tenant=str(found.tenant_id), owner=str(found.principal_id),
                    ids=(str(found.id),))


def link_url(settings: Settings, token: str) -> str:
    return settings.public_base_url.rstrip("/") + LINK_PATH + token


def create_session(body: SessionCreate, request: Request, session: SessionDep,
                   access: AccessDep) -> SessionLink:
    principal = getattr(request.state, "target", None)
    if principal is None:
        principal = service.target_principal(session, uuid.UUID(access.request.actor.tenant),
                                             str(body.principal_id))
    ttl = timedelta(seconds=body.ttl_seconds) if body.ttl_seconds is not None else None
    issued = service.create(session, runtime_of(request).api_key_pepper, principal, ttl=ttl,
                            created_by=uuid.UUID(access.request.actor.id))
    settings: Settings = runtime_of(request).settings
    made = issued.page_session
    return SessionLink(id=made.id, url=link_url(settings, issued.token), persona=made.persona,
                       link_expires_at=made.link_expires_at, expires_at=made.expires_at)


def revoke_session(session_id: str, request: Request, session: SessionDep,
                   access: AccessDep) -> Response:
    service.revoke(session, request.state.page_session)
    return Response(status_code=204)


router.add("POST", "", create_session, action=Action.session_create, resource=target_resource,
           status_code=201, response_model=SessionLink,
           summary="A one-time link that opens a person's pages in their browser")
router.add("DELETE", "/{session_id}", revoke_session, action=Action.session_revoke,
           resource=session_resource, status_code=204, response_class=Response,
           summary="End a page session (its cookie stops working at once)")
