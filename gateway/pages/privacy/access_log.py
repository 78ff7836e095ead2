"""“Who read my mail”: every human access to a mailbox in words, from its operation log (the
same entries `GET /v1/mailboxes/{id}/access-log` serves, through `gateway.audit.repository`),
and the CRM service's and the reviewers' access in aggregate.

A human access is an entry whose actor is an operator: who (the operator's display name), when,
what (the action in words, the messages and threads by subject), why (the purpose) and under
which consent grant or security/legal case reference (the enforcement point writes
`detail.grant_id` and `detail.justification`), refused attempts included with their reasons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audit import repository
from gateway.audit.models import AuditEntry
from gateway.audit.repository import AuditFilter
from gateway.consent.models import ConsentGrant
from gateway.consent.service import grant_status
from gateway.kit.ids import uuid_or_none
from gateway.kit.timeutil import as_utc, utcnow
from gateway.mailboxes.models import Mailbox
from gateway.pages.privacy.items import Item, ItemNamer, name_of, person_names
from gateway.pages.privacy.words import action_words, purpose_words, reasons_words
from gateway.policy.vocabulary import Action, ActorKind

PAGE_SIZE = 50
AGGREGATE_DAYS = 30


@dataclass(frozen=True)
class GrantRef:
    id: str
    created_at: datetime | None
    expires_at: datetime | None
    status: str | None  # None: the grant is no longer held


@dataclass(frozen=True)
class CaseRef:
    id: str
    kind: str      # security | legal
    case_ref: str


@dataclass(frozen=True)
class HumanAccessLine:
    occurred_at: datetime
    who: str
    did: str
    items: list[Item]
    why: str
    purpose: str
    allowed: bool
    refused_because: str
    grant: GrantRef | None
    case: CaseRef | None
    flagged: bool


@dataclass(frozen=True)
class AggregateLine:
    did: str
    action: str
    why: str
    decision: str
    count: int
    last_at: datetime


@dataclass(frozen=True)
class WhoReadPage:
    lines: list[HumanAccessLine]
    next_cursor: str | None
    crm: list[AggregateLine]
    reviewers: list[AggregateLine]
    crm_days: int


def _items(namer: ItemNamer, entry: AuditEntry) -> list[Item]:
    """The messages an entry names (a thread read names the messages it served)."""
    if entry.action.startswith("mail.") or entry.action == Action.data_transfer.value:
        return [namer.message(str(i)) for i in entry.resource_ids or []]
    return []


def _case(detail: dict[str, Any]) -> CaseRef | None:
    named = detail.get("justification")
    if not isinstance(named, dict) or not named.get("id"):
        return None
    return CaseRef(id=str(named["id"]), kind=str(named.get("kind") or ""),
                   case_ref=str(named.get("case_ref") or ""))


def _grants(session: Session, mailbox: Mailbox, entries: list[AuditEntry]
            ) -> dict[str, GrantRef]:
    ids = {str((e.detail or {}).get("grant_id") or "") for e in entries} - {""}
    wanted = [u for u in (uuid_or_none(i) for i in ids) if u is not None]
    rows: list[ConsentGrant] = list(session.scalars(select(ConsentGrant).where(
        ConsentGrant.mailbox_id == mailbox.id, ConsentGrant.id.in_(wanted)))) if wanted else []
    found = {str(g.id): GrantRef(str(g.id), g.created_at, g.expires_at, grant_status(g))
             for g in rows}
    return {i: found.get(i, GrantRef(i, None, None, None)) for i in ids}


def human_accesses(session: Session, namer: ItemNamer, mailbox: Mailbox, *,
                   cursor: str | None = None, limit: int | None = None
                   ) -> tuple[list[HumanAccessLine], str | None]:
    """One page of the operators' entries on this mailbox (`PAGE_SIZE` of them unless `limit`
    says otherwise), newest first."""
    query = AuditFilter(tenant_id=mailbox.tenant_id, mailbox_id=mailbox.id,
                        actor_kind=ActorKind.operator.value)
    entries, next_cursor = repository.page(session, query, limit=limit or PAGE_SIZE,
                                           cursor=cursor)
    names = person_names(session, mailbox.tenant_id, [e.actor_id for e in entries])
    grants = _grants(session, mailbox, entries)
    namer.load([str(i) for e in entries for i in e.resource_ids or []], [])
    lines = []
    for entry in entries:
        detail = dict(entry.detail or {})
        grant_id = str(detail.get("grant_id") or "")
        lines.append(HumanAccessLine(
            occurred_at=as_utc(entry.occurred_at), who=name_of(names, entry.actor_id),
            did=action_words(entry.action), items=_items(namer, entry),
            why=purpose_words(entry.purpose), purpose=entry.purpose,
            allowed=entry.decision == "allow",
            refused_because=("" if entry.decision == "allow"
                             else reasons_words(list(entry.reasons or []))),
            grant=grants.get(grant_id) if grant_id else None, case=_case(detail),
            flagged=detail.get("flag_for_review") is True))
    return lines, next_cursor


def service_aggregate(session: Session, mailbox: Mailbox, *, kind: str = "crm_service",
                      days: int = AGGREGATE_DAYS) -> list[AggregateLine]:
    """How often an actor kind (the CRM service by default) did what on this mailbox in the
    last `days` days, by action, purpose and decision, most frequent first."""
    since = utcnow() - timedelta(days=days)
    e = AuditEntry
    rows = session.execute(
        select(e.action, e.purpose, e.decision, func.count(), func.max(e.occurred_at))
        .where(e.tenant_id == mailbox.tenant_id, e.mailbox_id == mailbox.id,
               e.actor_kind == kind, e.occurred_at >= since)
        .group_by(e.action, e.purpose, e.decision))
    lines = [AggregateLine(did=action_words(action), action=action, why=purpose_words(purpose),
                           decision=decision, count=int(count), last_at=as_utc(last))
             for action, purpose, decision, count, last in rows]
    return sorted(lines, key=lambda line: (-line.count, line.action, line.decision))


def who_read_page(session: Session, namer: ItemNamer, mailbox: Mailbox, *,
                  cursor: str | None = None) -> WhoReadPage:
    lines, next_cursor = human_accesses(session, namer, mailbox, cursor=cursor)
    return WhoReadPage(lines=lines, next_cursor=next_cursor,
                       crm=service_aggregate(session, mailbox),
                       reviewers=service_aggregate(session, mailbox,
                                                   kind=ActorKind.reviewer.value),
                       crm_days=AGGREGATE_DAYS)
