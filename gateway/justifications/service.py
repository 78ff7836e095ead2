"""Recording, listing and revoking justifications. Services only flush; the request (or the CLI's
transaction) owns the commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.accounts.models import Principal
from gateway.accounts.service import tenant_operator
from gateway.audit.models import AuditEntry
from gateway.crypto import Binding, CryptoService
from gateway.crypto.errors import KeyDestroyed
from gateway.justifications.models import TABLE, Justification
from gateway.justifications.schemas import JustificationCreate, JustifiedAccessOut
from gateway.kit.errors import GatewayError, NotFound, ValidationFailed
from gateway.kit.ids import uuid_or_not_found
from gateway.kit.timeutil import as_utc, utcnow
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import ActorKind

Status = Literal["active", "expired", "revoked"]
JUSTIFIED_PURPOSES = frozenset({"security", "legal"})
# The one principal kind that may record a justification: reviewers oversee the operation log
# and can never read mail themselves, so whoever authorises human access is never the human who
# reads (separation of duties); operators, end users and the CRM cannot authorise it.
RECORDER_KIND = ActorKind.reviewer


class RecorderNotAllowed(GatewayError):
    status = 403
    code = "justification_recorder_not_allowed"
    title = "Only a reviewer may record or revoke a justification"



def status_of(justification: Justification, at: datetime | None = None) -> Status:
    if justification.revoked_at is not None:
        return "revoked"
    return "active" if as_utc(justification.expires_at) > (at or utcnow()) else "expired"


def reason_binding(justification: Justification) -> Binding:
    return Binding(tenant=str(justification.tenant_id), mailbox=str(justification.mailbox_id),
                   table=TABLE, column="reason", row=str(justification.id))


def check_duration(minutes: int, max_hours: float) -> timedelta:
    if minutes > max_hours * 60:
        raise ValidationFailed(f"a justification runs for at most {max_hours:g} hours; "
                               "record a new one when the case needs more time",
                               code="justification_too_long")
    return timedelta(minutes=minutes)


def check_recorder(session: Session, tenant_id: uuid.UUID, principal_id: uuid.UUID) -> Principal:
    """The API path is already limited to reviewers by policy; the CLI path is checked here."""
    principal = session.get(Principal, principal_id)
    if principal is None or principal.tenant_id != tenant_id:
        raise NotFound("no such principal", code="principal_not_found")
    if principal.kind != RECORDER_KIND or principal.disabled_at is not None:
        raise RecorderNotAllowed(f"a {principal.kind} cannot record or revoke justifications")
    return principal


def mailbox_of_tenant(session: Session, tenant_id: uuid.UUID, mailbox_id: uuid.UUID) -> Mailbox:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.tenant_id != tenant_id:
        raise NotFound("no such mailbox", code="mailbox_not_found")
    return mailbox


def record(session: Session, crypto: CryptoService, mailbox: Mailbox, body: JustificationCreate,
           *, recorded_by: uuid.UUID, max_hours: float) -> Justification:
    duration = check_duration(body.expires_in_minutes, max_hours)
    check_recorder(session, mailbox.tenant_id, recorded_by)
    if body.operator_id is not None:
        tenant_operator(session, mailbox.tenant_id, body.operator_id)
    justification = Justification(
        id=uuid.uuid4(), tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id,
        operator_principal_id=body.operator_id, operator_group=body.operator_group,
        message_ids=list(dict.fromkeys(body.message_ids)),
        thread_ids=list(dict.fromkeys(body.thread_ids)), kind=body.kind,
        case_ref=body.case_ref, recorded_by=recorded_by, created_at=utcnow(),
        expires_at=utcnow() + duration)
    justification.reason = crypto.seal_text(session, reason_binding(justification), body.reason)
    session.add(justification)
    session.flush()
    return justification


def get(session: Session, tenant_id: uuid.UUID, raw_id: str) -> Justification:
    justification = session.get(Justification, uuid_or_not_found(
        raw_id, what="justification", code="justification_not_found"))
    if justification is None or justification.tenant_id != tenant_id:
        raise NotFound("no such justification", code="justification_not_found")
    return justification


def revoke(session: Session, justification: Justification, *,
           revoked_by: uuid.UUID) -> Justification:
    """Idempotent: revoking twice keeps the first revocation's time and author."""
    check_recorder(session, justification.tenant_id, revoked_by)
    if justification.revoked_at is None:
        justification.revoked_at = utcnow()
        justification.revoked_by = revoked_by
        session.flush()
    return justification


def listing(session: Session, tenant_id: uuid.UUID, *, mailbox_id: uuid.UUID | None = None,
            operator_id: uuid.UUID | None = None, case_ref: str | None = None,
            status: Status | None = None, limit: int = 200) -> list[Justification]:
    """Newest first. The status filter is applied on the times, so `active` means active now."""
    query = select(Justification).where(Justification.tenant_id == tenant_id)
    if mailbox_id is not None:
        query = query.where(Justification.mailbox_id == mailbox_id)
    if operator_id is not None:
        query = query.where(Justification.operator_principal_id == operator_id)
    if case_ref is not None:
        query = query.where(Justification.case_ref == case_ref)
    at = utcnow()
    if status == "revoked":
        query = query.where(Justification.revoked_at.is_not(None))
    elif status == "active":
        query = query.where(Justification.revoked_at.is_(None), Justification.expires_at > at)
    elif status == "expired":
        query = query.where(Justification.revoked_at.is_(None), Justification.expires_at <= at)
    query = query.order_by(Justification.created_at.desc(), Justification.id).limit(limit)
    return list(session.scalars(query))


def reason_text(session: Session, crypto: CryptoService,
                justification: Justification) -> str | None:
    """The sealed reason, or None once the mailbox was crypto-shredded."""
    try:
        return crypto.open_owned_secret(session, reason_binding(justification),
                                        justification.reason)
    except KeyDestroyed:
        return None


def accesses(session: Session, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
             justification_ids: Iterable[uuid.UUID], *,
             limit: int = 1000) -> dict[str, list[JustifiedAccessOut]]:
    """Operator accesses to mail (and transfers) of a mailbox logged under these justifications
    (the enforcement point writes `detail.justification.id`), newest first, keyed by id."""
    wanted = {str(i) for i in justification_ids}
    found: dict[str, list[JustifiedAccessOut]] = {i: [] for i in wanted}
    if not wanted:
        return found
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.tenant_id == tenant_id,
                                 AuditEntry.mailbox_id == mailbox_id,
                                 AuditEntry.actor_kind == ActorKind.operator.value,
                                 AuditEntry.purpose.in_(sorted(JUSTIFIED_PURPOSES)),
                                 or_(AuditEntry.action.startswith("mail."),
                                     AuditEntry.action == "data.transfer"))
        .order_by(AuditEntry.occurred_at.desc()).limit(limit))
    for entry in entries:
        named = (entry.detail or {}).get("justification")
        key = str(named.get("id")) if isinstance(named, dict) else None
        if key in found:
            found[key].append(JustifiedAccessOut(
                occurred_at=as_utc(entry.occurred_at), operator_id=entry.actor_id,
                action=entry.action, decision=entry.decision,
                resource_ids=list(entry.resource_ids or []), reasons=list(entry.reasons or [])))
    return found
