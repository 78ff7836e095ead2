"""The justifications API. Reviewers record, list and revoke security/legal justifications; the
mailbox owner (and the CRM on their behalf) sees every justification about their mailbox and the
accesses made under it. Every route is guarded; the policy decides who may call it."""

from __future__ import annotations

import uuid
from typing import Annotated

from annotated_types import Ge, Le
from fastapi import Query, Request
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.crypto import CryptoService
from gateway.guard.routing import AccessDep, GuardedRouter, tenant_resource
from gateway.justifications import service
from gateway.justifications.models import Justification
from gateway.justifications.schemas import (
    CASE_REF_PATTERN,
    JustificationCreate,
    JustificationList,
    JustificationOut,
)
from gateway.justifications.service import Status
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.kit.strict import DIGITS
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.enforcement import Access, Resource
from gateway.policy.resources import mailbox_bound
from gateway.policy.vocabulary import Action, ActorKind
from gateway.runtime import runtime_of
from gateway.settings import Settings

router = GuardedRouter(prefix="/v1", tags=["justifications"])
RESOURCE_TYPE = "justification"


def justification_resource(session: Session, caller: Caller, request: Request) -> Resource:
    """One justification of the caller's tenant (404 otherwise), as a resource of its mailbox,
    so the policy can let the mailbox owner read it and reviewers revoke it."""
    justification = service.get(session, caller.tenant_id,
                                request.path_params["justification_id"])
    mailbox = session.get(Mailbox, justification.mailbox_id)
    if mailbox is None:
        raise NotFound("no such justification", code="justification_not_found")
    request.state.justification = justification
    return mailbox_bound(mailbox, RESOURCE_TYPE, ids=(str(justification.id),))


def _crypto(request: Request) -> CryptoService:
    crypto: CryptoService = runtime_of(request).crypto
    return crypto


def _is_reviewer(access: Access) -> bool:
    return access.request.actor.kind == ActorKind.reviewer.value


def _out(session: Session, request: Request, access: Access, justification: Justification,
         *, with_accesses: bool = False) -> JustificationOut:
    reason = (service.reason_text(session, _crypto(request), justification)
              if _is_reviewer(access) else None)
    found = (service.accesses(session, justification.tenant_id, justification.mailbox_id,
                              [justification.id]) if with_accesses else {})
    return JustificationOut(
        id=justification.id, tenant_id=justification.tenant_id,
        mailbox_id=justification.mailbox_id,
        operator_principal_id=justification.operator_principal_id,
        operator_group=justification.operator_group,
        message_ids=list(justification.message_ids), thread_ids=list(justification.thread_ids),
        kind=justification.kind, case_ref=justification.case_ref, reason=reason,
        recorded_by=justification.recorded_by, created_at=justification.created_at,
        expires_at=justification.expires_at, revoked_at=justification.revoked_at,
        revoked_by=justification.revoked_by, status=service.status_of(justification),
        accesses=found.get(str(justification.id)) if with_accesses else None)


def record_justification(mailbox_id: str, body: JustificationCreate, request: Request,
                         session: SessionDep, access: AccessDep) -> JustificationOut:
    if body.kind != access.request.purpose:
        raise ValidationFailed("record a security justification with the purpose security, "
                               "a legal one with the purpose legal",
                               code="justification_kind_mismatch")
    settings: Settings = runtime_of(request).settings
    mailbox: Mailbox = request.state.mailbox
    justification = service.record(session, _crypto(request), mailbox, body,
                                   recorded_by=uuid.UUID(access.request.actor.id),
                                   max_hours=settings.justification_max_hours)
    return _out(session, request, access, justification)


def list_mailbox_justifications(mailbox_id: str, request: Request, session: SessionDep,
                                access: AccessDep) -> JustificationList:
    """The owner's view: every justification about this mailbox, and what was read under it."""
    mailbox: Mailbox = request.state.mailbox
    found = service.listing(session, mailbox.tenant_id, mailbox_id=mailbox.id)
    logged = service.accesses(session, mailbox.tenant_id, mailbox.id, [j.id for j in found])
    items = [_out(session, request, access, j).model_copy(
        update={"accesses": logged.get(str(j.id), [])}) for j in found]
    return JustificationList(items=items)


def list_justifications(
    request: Request, session: SessionDep, access: AccessDep,
    mailbox_id: uuid.UUID | None = None, operator_id: uuid.UUID | None = None,
    case_ref: Annotated[str | None, Query(pattern=CASE_REF_PATTERN, max_length=64)] = None,
    status: Status | None = None, limit: Annotated[int, Ge(1), Le(500), DIGITS, Query()] = 200,
) -> JustificationList:
    """Reviewers: the tenant's justifications, newest first."""
    found = service.listing(session, uuid.UUID(access.request.actor.tenant),
                            mailbox_id=mailbox_id, operator_id=operator_id, case_ref=case_ref,
                            status=status, limit=limit)
    return JustificationList(items=[_out(session, request, access, j) for j in found])


def get_justification(justification_id: str, request: Request, session: SessionDep,
                      access: AccessDep) -> JustificationOut:
    justification: Justification = request.state.justification
    return _out(session, request, access, justification, with_accesses=True)


def revoke_justification(justification_id: str, request: Request, session: SessionDep,
                         access: AccessDep) -> JustificationOut:
    justification: Justification = request.state.justification
    service.revoke(session, justification, revoked_by=uuid.UUID(access.request.actor.id))
    return _out(session, request, access, justification)


router.add("POST", "/mailboxes/{mailbox_id}/justifications", record_justification,
           action=Action.justification_record, resource=mailbox_resource(RESOURCE_TYPE),
           status_code=201, response_model=JustificationOut,
           summary="Record a security or legal justification (reviewers)")
router.add("GET", "/mailboxes/{mailbox_id}/justifications", list_mailbox_justifications,
           action=Action.justification_list, resource=mailbox_resource(RESOURCE_TYPE),
           response_model=JustificationList,
           summary="Justifications about this mailbox and the accesses made under them")
router.add("GET", "/justifications", list_justifications, action=Action.justification_list,
           resource=tenant_resource(RESOURCE_TYPE), response_model=JustificationList,
           summary="The tenant's justifications (reviewers)")
router.add("GET", "/justifications/{justification_id}", get_justification,
           action=Action.justification_list, resource=justification_resource,
           response_model=JustificationOut, summary="One justification and its accesses")
router.add("DELETE", "/justifications/{justification_id}", revoke_justification,
           action=Action.justification_revoke, resource=justification_resource,
           response_model=JustificationOut, summary="Revoke a justification (reviewers)")
