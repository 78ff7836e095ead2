"""The consent API: owners grant and revoke, operators request, everyone sees what applies to
them. Routes are guarded like any other; the policy decides who may do what."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.consent import service
from gateway.consent.models import ConsentRequest
from gateway.consent.resolvers import own_grant, own_request
from gateway.consent.schemas import (
    ConsentOverview,
    GrantCreate,
    GrantOut,
    HumanAccessOut,
    RequestCreate,
    RequestDecision,
    RequestOut,
)
from gateway.crypto import CryptoService
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.settings import Settings

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}/consent", tags=["consent"])


def _settings(request: Request) -> Settings:
    settings: Settings = runtime_of(request).settings
    return settings


def _mailbox(request: Request) -> Mailbox:
    mailbox: Mailbox = request.state.mailbox
    return mailbox


def _request_out(request: Request, session: Session, access_request: ConsentRequest) -> RequestOut:
    crypto: CryptoService = runtime_of(request).crypto
    text = service.justification_text(session, crypto, access_request)
    return RequestOut(**{name: getattr(access_request, name) for name in RequestOut.model_fields
                         if name != "justification"}, justification=text)


def _grant_out(grant: object, status: str) -> GrantOut:
    return GrantOut.model_validate(grant).model_copy(update={"status": status})


def create_grant(mailbox_id: str, body: GrantCreate, request: Request, session: SessionDep,
                 access: AccessDep) -> GrantOut:
    grant = service.create_grant(session, _mailbox(request), body,
                                 max_hours=_settings(request).consent_grant_max_hours)
    return _grant_out(grant, "active")


def revoke_grant(mailbox_id: str, grant_id: str, request: Request, session: SessionDep,
                 access: AccessDep) -> GrantOut:
    grant = service.revoke_grant(session, _mailbox(request), grant_id,
                                 uuid.UUID(access.request.actor.id))
    return _grant_out(grant, service.grant_status(grant))


def create_request(mailbox_id: str, body: RequestCreate, request: Request, session: SessionDep,
                   access: AccessDep) -> RequestOut:
    settings = _settings(request)
    created = service.create_request(session, runtime_of(request).crypto, _mailbox(request),
                                     uuid.UUID(access.request.actor.id), body,
                                     max_hours=settings.consent_grant_max_hours,
                                     ttl_hours=settings.access_request_ttl_hours)
    return _request_out(request, session, created)


def decide_request(mailbox_id: str, request_id: str, body: RequestDecision, request: Request,
                   session: SessionDep, access: AccessDep) -> RequestOut:
    decided = service.decide_request(session, _mailbox(request), request_id, body,
                                     max_hours=_settings(request).consent_grant_max_hours)
    return _request_out(request, session, decided)


def list_consent(mailbox_id: str, request: Request, session: SessionDep,
                 access: AccessDep) -> ConsentOverview:
    only = access.decision.obligations.get("filter_operator")
    found = service.overview(session, _mailbox(request),
                             operator_id=str(only) if only else None)
    return ConsentOverview(
        grants=[_grant_out(g, status) for g, status in found["grants"]],
        requests=[_request_out(request, session, r) for r in found["requests"]],
        human_accesses=[HumanAccessOut(
            occurred_at=e.occurred_at, operator_id=e.actor_id, action=e.action,
            purpose=e.purpose, decision=e.decision, resource_ids=list(e.resource_ids),
            reasons=list(e.reasons)) for e in found["human_accesses"]])


router.add("POST", "/grants", create_grant, action=Action.consent_grant_create,
           resource=mailbox_resource("consent_grant", owner_only=True), status_code=201,
           response_model=GrantOut)
router.add("DELETE", "/grants/{grant_id}", revoke_grant, action=Action.consent_grant_revoke,
           resource=own_grant,
           response_model=GrantOut)
router.add("POST", "/requests", create_request, action=Action.consent_request_create,
           resource=mailbox_resource("consent_request", owner_only=True), status_code=201,
           response_model=RequestOut)
router.add("POST", "/requests/{request_id}/decision", decide_request,
           action=Action.consent_request_decide,
           resource=own_request,
           response_model=RequestOut)
router.add("GET", "", list_consent, action=Action.consent_list,
           resource=mailbox_resource("consent", owner_only=True), response_model=ConsentOverview)
