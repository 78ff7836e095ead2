"""What a verified Gmail notification does: find the watched mailbox(es) for the address and
ask the sync worker for an incremental sync, coalescing bursts.

The request for a sync is `Mailbox.sync_requested_at`: set here only when it is NULL, cleared by
the sync worker when it claims the mailbox. So a burst of N notifications between two claims
leaves one pending sync, and a notification that arrives while a sync runs (after the claim)
sets it again, so a change made during that sync is never left behind. A notification whose
historyId the mailbox's incremental sync has already reached (Gmail history ids only grow, and
the stored one is where the last `history.list` ended) asks for nothing: outcome `up_to_date`.

Finding the mailbox without a plaintext address: gateway.push.lookup.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from gateway.audit.operations import Operation
from gateway.audit.writer import OperationLog, log_system_operation
from gateway.crypto import CryptoService
from gateway.kit.timeutil import utcnow
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import MailboxState
from gateway.push.envelope import GmailNotification
from gateway.push.lookup import WatchLookup
from gateway.push.models import MailboxWatch
from gateway.sync.models import MailboxSync, SyncPhase

log = logging.getLogger(__name__)

PUSH_JOB = "push-receiver"
UPSTREAM_PROTOCOL = "pubsub-push https"


@dataclass(frozen=True)
class MatchedMailbox:
    mailbox_id: uuid.UUID
    tenant_id: uuid.UUID
    outcome: str  # requested | coalesced | up_to_date | mailbox_inactive


@dataclass
class PushOutcome:
    mailboxes: list[MatchedMailbox] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for m in self.mailboxes if m.outcome == outcome)


def request_sync(session: Session, mailbox_ids: list[uuid.UUID], now: datetime,
                 history_id: int | None = None
                 ) -> tuple[set[uuid.UUID], set[uuid.UUID], set[uuid.UUID]]:
    """Set `sync_requested_at` where it is NULL. Returns (newly requested, still active,
    up to date): an active mailbox that was not newly requested already had a sync pending
    (coalesced) or has already synced past `history_id` (up to date: nothing requested)."""
    if not mailbox_ids:
        return set(), set(), set()
    live = (Mailbox.id.in_(mailbox_ids), Mailbox.state == MailboxState.active.value,
            Mailbox.data_deleted_at.is_(None))
    up_to_date: set[uuid.UUID] = set()
    if history_id is not None:
        up_to_date = set(session.scalars(select(MailboxSync.mailbox_id).where(
            MailboxSync.mailbox_id.in_(mailbox_ids),
            MailboxSync.phase == SyncPhase.incremental,
            MailboxSync.history_id >= history_id)).all())
    wanted = [m for m in mailbox_ids if m not in up_to_date]
    requested = set(session.scalars(
        update(Mailbox).where(Mailbox.id.in_(wanted), *live[1:],
                              Mailbox.sync_requested_at.is_(None))
        .values(sync_requested_at=now).returning(Mailbox.id)).all()) if wanted else set()
    active = set(session.scalars(select(Mailbox.id).where(*live)).all())
    return requested, active, up_to_date & active


def _count_push(session: Session, mailbox_id: uuid.UUID, history_id: int, coalesced: bool,
                now: datetime) -> None:
    last = MailboxWatch.last_push_history_id
    session.execute(update(MailboxWatch).where(MailboxWatch.mailbox_id == mailbox_id).values(
        pushes_received=MailboxWatch.pushes_received + 1,
        pushes_coalesced=MailboxWatch.pushes_coalesced + (1 if coalesced else 0),
        last_push_at=now,
        last_push_history_id=case((last.is_(None) | (last < history_id), history_id),
                                  else_=last)))


def record_push(session: Session, crypto: CryptoService, notification: GmailNotification, *,
                request_id: str, protocol: str, oplog: OperationLog | None = None,
                lookup: WatchLookup | None = None, now: datetime | None = None
                ) -> PushOutcome:
    """Apply one verified notification; flushes, never commits (the request owns the
    transaction). Each matched mailbox gets an operation-log entry; an address matching no
    watch gets one entry without tenant or mailbox. The address itself is never logged."""
    now = now or utcnow()
    lookup = lookup or WatchLookup(crypto)
    matches = lookup.find(session, notification.email_address)
    requested, active, up_to_date = request_sync(session, [m for m, _ in matches], now,
                                                 notification.history_id)
    outcome = PushOutcome()
    for mailbox_id, tenant_id in matches:
        if mailbox_id in requested:
            result = "requested"
        elif mailbox_id in up_to_date:
            result = "up_to_date"
        elif mailbox_id in active:
            result = "coalesced"
        else:
            result = "mailbox_inactive"
        outcome.mailboxes.append(MatchedMailbox(mailbox_id, tenant_id, result))
        _count_push(session, mailbox_id, notification.history_id, result == "coalesced", now)
        _log(session, notification, request_id=request_id, protocol=protocol, oplog=oplog,
             tenant_id=tenant_id, mailbox_id=mailbox_id, result=result)
    if not matches:
        log.info("push:gmail:unknown_address history_id=%d", notification.history_id)
        _log(session, notification, request_id=request_id, protocol=protocol, oplog=oplog,
             tenant_id=None, mailbox_id=None, result="unknown_address")
    session.flush()
    return outcome


def _log(session: Session, notification: GmailNotification, *, request_id: str, protocol: str,
         oplog: OperationLog | None, tenant_id: uuid.UUID | None, mailbox_id: uuid.UUID | None,
         result: str) -> None:
    detail: dict[str, object] = {"history_id": notification.history_id, "outcome": result}
    if notification.message_id:
        detail["pubsub_message_id"] = notification.message_id
    log_system_operation(
        session, Operation.sync_push_received, job=PUSH_JOB, purpose="sync",
        tenant_id=tenant_id, mailbox_id=mailbox_id,
        resource_type="mailbox" if mailbox_id else None, protocol=protocol,
        upstream_protocol=UPSTREAM_PROTOCOL, request_id=request_id, detail=detail, oplog=oplog)
