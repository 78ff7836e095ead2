"""Security and legal cases about one mailbox, as its owner sees them: every justification a
reviewer recorded (`gateway.justifications.service.listing`, what
`GET /v1/mailboxes/{id}/justifications` returns), who it lets read what until when, and every
access made under it. The reason text stays with reviewers, as in the API; the case reference,
the kind and the scope are the owner's to see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.justifications import service
from gateway.justifications.models import Justification
from gateway.mailboxes.models import Mailbox
from gateway.pages.privacy.items import Item, ItemNamer, name_of, person_names
from gateway.pages.privacy.words import action_words, reasons_words

KIND_WORDS = {"security": "Security investigation", "legal": "Legal obligation"}


@dataclass(frozen=True)
class CaseAccess:
    occurred_at: datetime
    who: str
    did: str
    items: list[Item]
    allowed: bool
    refused_because: str


@dataclass(frozen=True)
class CaseCard:
    id: uuid.UUID
    kind: str
    kind_words: str
    case_ref: str
    who_may_read: str
    whole_mailbox: bool
    items: list[Item]
    recorded_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    status: str
    accesses: list[CaseAccess]


def _who(names: dict[str, str], justification: Justification) -> str:
    if justification.operator_principal_id is not None:
        return name_of(names, justification.operator_principal_id)
    return f"anyone in the group “{justification.operator_group}”"


def cases_page(session: Session, namer: ItemNamer, mailbox: Mailbox) -> list[CaseCard]:
    found = service.listing(session, mailbox.tenant_id, mailbox_id=mailbox.id)
    logged = service.accesses(session, mailbox.tenant_id, mailbox.id, [j.id for j in found])
    people: list[object] = []
    for j in found:
        people += [j.operator_principal_id, j.recorded_by]
        people += [a.operator_id for a in logged.get(str(j.id), [])]
    names = person_names(session, mailbox.tenant_id, [str(p) for p in people if p])
    namer.load([m for j in found for m in j.message_ids]
               + [i for acc in logged.values() for a in acc for i in a.resource_ids],
               [t for j in found for t in j.thread_ids])
    cards = []
    for j in found:
        accesses = [CaseAccess(
            occurred_at=a.occurred_at, who=name_of(names, a.operator_id),
            did=action_words(a.action), items=[namer.message(i) for i in a.resource_ids],
            allowed=a.decision == "allow",
            refused_because="" if a.decision == "allow" else reasons_words(a.reasons))
            for a in logged.get(str(j.id), [])]
        cards.append(CaseCard(
            id=j.id, kind=j.kind, kind_words=KIND_WORDS.get(j.kind, j.kind),
            case_ref=j.case_ref, who_may_read=_who(names, j),
            whole_mailbox=not j.message_ids and not j.thread_ids,
            items=namer.items(j.message_ids, j.thread_ids),
            recorded_by=name_of(names, j.recorded_by), created_at=j.created_at,
            expires_at=j.expires_at, revoked_at=j.revoked_at,
            status=service.status_of(j), accesses=accesses))
    return cards
