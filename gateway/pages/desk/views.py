"""What the operator's access desk shows, built from the consent service and the message store.

The desk reads nothing the API would not serve the same operator: requests and grants are the
operator's own (the `filter_operator` obligation of `consent.list`), and a message or thread is
rendered from the decision the page's guard made (`gateway.mail.read.rendering.render`), so content
appears only under a grant the policy found valid and the metadata view carries the policy's
redactions otherwise."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.consent import service
from gateway.consent.models import ConsentGrant, ConsentRequest
from gateway.consent.schemas import GrantOut, RequestCreate, RequestOut
from gateway.crypto import CryptoService
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.kit.ids import uuid_or_none
from gateway.mail.models import Message
from gateway.mailboxes.models import Mailbox
from gateway.pages.forms import errors_of, place_errors, split_ids, validated, whole_number

STATUSES = ("pending", "approved", "refused", "expired")


@dataclass(frozen=True)
class DeskOverview:
    """An operator's requests by status (pending, approved, refused, expired) and grants."""

    requests: dict[str, list[RequestOut]]
    grants: list[GrantOut]

    @property
    def counts(self) -> dict[str, int]:
        return {status: len(rows) for status, rows in self.requests.items()}


def request_out(session: Session, crypto: CryptoService, row: ConsentRequest) -> RequestOut:
    """The API's representation of a request (the justification opened for its author)."""
    text = service.justification_text(session, crypto, row)
    return RequestOut(**{name: getattr(row, name) for name in RequestOut.model_fields
                         if name != "justification"}, justification=text)


def overview(session: Session, crypto: CryptoService, tenant_id: uuid.UUID,
             operator_id: uuid.UUID, groups: tuple[str, ...]) -> DeskOverview:
    by_status: dict[str, list[RequestOut]] = {status: [] for status in STATUSES}
    for row in service.operator_requests(session, tenant_id, operator_id):
        by_status.setdefault(row.status, []).append(request_out(session, crypto, row))
    grants = [GrantOut.model_validate(g).model_copy(update={"status": status})
              for g, status in service.operator_grants(session, tenant_id, operator_id, groups)]
    return DeskOverview(requests=by_status, grants=grants)


@dataclass
class RequestForm:
    """The new-request form: what was typed, and the problem with each field."""

    message_ids: str = ""
    thread_ids: str = ""
    justification: str = ""
    requested_minutes: str = "60"
    errors: dict[str, str] = field(default_factory=dict)

    FIELDS = ("message_ids", "thread_ids", "justification", "requested_minutes")

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> RequestForm:
        def text(name: str) -> str:
            return str(data.get(name) or "")

        return cls(message_ids=text("message_ids"), thread_ids=text("thread_ids"),
                   justification=text("justification"),
                   requested_minutes=text("requested_minutes").strip() or "60")

    def body(self) -> RequestCreate:
        """The API's `RequestCreate`, or its 422."""
        return validated(RequestCreate, {
            "message_ids": split_ids(self.message_ids), "thread_ids": split_ids(self.thread_ids),
            "justification": self.justification.strip(),
            "requested_minutes": whole_number(self.requested_minutes, "requested_minutes")})

    def with_errors(self, exc: ValidationFailed) -> RequestForm:
        self.errors = place_errors(errors_of(exc), self.FIELDS)
        return self


def operator_grant(session: Session, mailbox: Mailbox, raw_grant_id: str,
                   operator_id: uuid.UUID, groups: tuple[str, ...]) -> ConsentGrant:
    """A grant of this mailbox naming this operator (or one of their groups); anything else,
    another operator's grant included, is the API's `grant_not_found`."""
    grant_id = uuid_or_none(raw_grant_id)
    grant = session.get(ConsentGrant, grant_id) if grant_id is not None else None
    if (grant is None or grant.mailbox_id != mailbox.id
            or not (grant.operator_principal_id == operator_id
                    or (grant.operator_group is not None and grant.operator_group in groups))):
        raise NotFound("no such grant", code="grant_not_found")
    return grant


@dataclass(frozen=True)
class CoveredItem:
    """One message or thread a grant names: its id, whether the store holds it, and (for a
    thread) how many of its messages the store holds. Ids and counts only, never content."""

    kind: str
    id: str
    stored: int
    first_at: datetime | None = None


def coverage(session: Session, grant: ConsentGrant) -> list[CoveredItem]:
    items: list[CoveredItem] = []
    if grant.message_ids:
        stored = {row[0]: row[1] for row in session.execute(
            select(Message.gmail_id, Message.internal_date)
            .where(Message.mailbox_id == grant.mailbox_id,
                   Message.gmail_id.in_(list(grant.message_ids))))}
        items += [CoveredItem("message", m, 1 if m in stored else 0, stored.get(m))
                  for m in grant.message_ids]
    if grant.thread_ids:
        counts = {row[0]: (int(row[1]), row[2]) for row in session.execute(
            select(Message.thread_id, func.count(Message.id), func.min(Message.internal_date))
            .where(Message.mailbox_id == grant.mailbox_id,
                   Message.thread_id.in_(list(grant.thread_ids)))
            .group_by(Message.thread_id))}
        items += [CoveredItem("thread", t, *counts.get(t, (0, None)))
                  for t in grant.thread_ids]
    return items


# The fields of a message view, in the order the page shows them, with their labels.
MESSAGE_FIELDS = (("subject", "Subject"), ("from", "From"), ("to", "To"), ("cc", "Cc"),
                  ("bcc", "Bcc"), ("reply_to", "Reply-To"), ("internal_date", "Received"),
                  ("label_ids", "Labels"),
                  ("snippet", "Snippet"), ("size_estimate", "Size (bytes)"),
                  ("attachment_count", "Attachments"))


def message_rows(view: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) for each field the view holds; lists are joined; absent fields and empty
    lists are skipped."""
    rows = []
    for name, label in MESSAGE_FIELDS:
        if view.get(name) is None or view.get(name) == []:
            continue
        value = view[name]
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        rows.append((label, text))
    return rows
