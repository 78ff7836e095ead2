"""Human access to one mailbox, as its owner decides it: the operators' access requests (pending
first) and the grants given, from `gateway.consent.service.overview` (what
`GET /v1/mailboxes/{id}/consent` returns), with operators named and items given their subject."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.consent import service
from gateway.consent.models import ConsentGrant, ConsentRequest
from gateway.crypto import CryptoService
from gateway.mailboxes.models import Mailbox
from gateway.pages.privacy.items import Item, ItemNamer, name_of, person_names
from gateway.pages.privacy.words import duration_words, purpose_words
from gateway.policy.vocabulary import MailboxState

# The states in which the owner may answer a request (policies/data.json, consent.request.decide;
# tests/pages/test_privacy_views.py keeps the two equal). In the others the page lists the
# requests without the buttons.
DECIDABLE_STATES = frozenset({MailboxState.active.value, MailboxState.reauth_required.value})
# What the owner may choose instead of the requested time when approving (within the maximum).
DURATION_CHOICES = (15, 30, 60, 120, 240, 480, 1440)


def durations(requested: int, max_hours: float) -> list[tuple[int, str]]:
    """(minutes, words) to approve for: the requested time first (capped at the maximum, as the
    service caps it), then shorter or longer choices within the maximum."""
    cap = int(max_hours * 60)
    first = min(requested, cap)
    return [(first, f"{duration_words(first)} (as asked)" if first == requested
             else duration_words(first))] + [
        (m, duration_words(m)) for m in DURATION_CHOICES if m <= cap and m != first]


@dataclass(frozen=True)
class RequestCard:
    id: uuid.UUID
    operator: str
    items: list[Item]
    purpose_words: str
    justification: str | None  # None once the mailbox was erased
    requested_minutes: int
    requested_words: str
    durations: list[tuple[int, str]]
    created_at: datetime
    expires_at: datetime  # a pending request lapses then
    status: str           # pending | approved | refused | expired
    decided_at: datetime | None
    grant_id: uuid.UUID | None

    @property
    def pending(self) -> bool:
        return self.status == "pending"


@dataclass(frozen=True)
class GrantCard:
    id: uuid.UUID
    grantee: str
    items: list[Item]
    purpose_words: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    status: str  # active | expired | revoked
    request_id: uuid.UUID | None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class HumanAccessPage:
    pending: list[RequestCard]
    decided: list[RequestCard]
    active_grants: list[GrantCard]
    past_grants: list[GrantCard]
    can_decide: bool


def _grantee(names: dict[str, str], grant: ConsentGrant) -> str:
    if grant.operator_principal_id is not None:
        return name_of(names, grant.operator_principal_id)
    return f"anyone in the group “{grant.operator_group}”"


def human_access_page(session: Session, crypto: CryptoService, namer: ItemNamer,
                      mailbox: Mailbox, *, max_hours: float) -> HumanAccessPage:
    found = service.overview(session, mailbox)
    requests: list[ConsentRequest] = found["requests"]
    grants: list[tuple[ConsentGrant, str]] = found["grants"]
    names = person_names(session, mailbox.tenant_id,
                         [r.operator_principal_id for r in requests]
                         + [g.operator_principal_id for g, _ in grants])
    namer.load([m for r in requests for m in r.message_ids]
               + [m for g, _ in grants for m in g.message_ids],
               [t for r in requests for t in r.thread_ids]
               + [t for g, _ in grants for t in g.thread_ids])
    cards = [RequestCard(
        id=r.id, operator=name_of(names, r.operator_principal_id),
        items=namer.items(r.message_ids, r.thread_ids), purpose_words=purpose_words(r.purpose),
        justification=service.justification_text(session, crypto, r),
        requested_minutes=r.requested_minutes,
        requested_words=duration_words(r.requested_minutes),
        durations=durations(r.requested_minutes, max_hours), created_at=r.created_at,
        expires_at=r.expires_at, status=r.status, decided_at=r.decided_at, grant_id=r.grant_id)
        for r in requests]
    grant_cards = [GrantCard(
        id=g.id, grantee=_grantee(names, g), items=namer.items(g.message_ids, g.thread_ids),
        purpose_words=purpose_words(g.purpose), created_at=g.created_at,
        expires_at=g.expires_at, revoked_at=g.revoked_at, status=status,
        request_id=g.request_id) for g, status in grants]
    return HumanAccessPage(
        pending=[c for c in cards if c.pending],
        decided=[c for c in cards if not c.pending],
        active_grants=[g for g in grant_cards if g.active],
        past_grants=[g for g in grant_cards if not g.active],
        can_decide=mailbox.state in DECIDABLE_STATES)
