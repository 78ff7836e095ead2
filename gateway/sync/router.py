"""A mailbox's sync state, and asking for a sync now.

`GET /v1/mailboxes/{id}/sync` (`mail.mailbox.read`): phase, counts, last historyId, last error,
next attempt, backoff, lease holder. `POST /v1/mailboxes/{id}/sync` (`mail.mailbox.read` too: it
reads nothing and writes no user content, it only sets the mailbox's "please sync" flag; the sync
itself is decided separately, step by step, as `mail.sync` for the system actor) answers 202.
On a mailbox backing off after failures it also brings the next attempt forward, within Google's
limits (`gateway.sync.repository.cut_backoff`: never before Google's last Retry-After, never
sooner than `sync_request_min_interval_seconds` after the last attempt).
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway.accounts.deps import SessionDep
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.errors import GatewayError
from gateway.kit.timeutil import as_utc, utcnow
from gateway.mail.models import Message
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.policy.vocabulary import Action, MailboxState
from gateway.runtime import runtime_of
from gateway.settings import Settings
from gateway.sync.models import MailboxSync, SyncPhase
from gateway.sync.repository import cut_backoff
from gateway.sync.schemas import (
    FullSyncOut,
    SyncCountsOut,
    SyncQuotaOut,
    SyncStateOut,
)

router = GuardedRouter(prefix="/v1/mailboxes/{mailbox_id}/sync", tags=["sync"])


class MailboxNotSyncable(GatewayError):
    status = 409
    code = "mailbox_not_syncable"
    title = "The mailbox cannot be synced in its current state"


def _phase(mailbox: Mailbox, row: MailboxSync | None) -> str:
    if mailbox.state != MailboxState.active:
        return SyncPhase.stopped
    return row.phase if row is not None else SyncPhase.pending


def _running(row: MailboxSync | None) -> bool:
    return (row is not None and row.lease_token is not None
            and row.lease_expires_at is not None
            and as_utc(row.lease_expires_at) > utcnow())


def sync_view(session: Session, mailbox: Mailbox) -> SyncStateOut:
    row = session.get(MailboxSync, mailbox.id, populate_existing=True)
    stored = session.scalar(select(func.count()).select_from(Message)
                            .where(Message.mailbox_id == mailbox.id)) or 0
    empty = MailboxSync(full_pages_done=0, full_messages_done=0, full_syncs=0,
                        messages_fetched=0, messages_deleted=0, label_changes=0, units_spent=0,
                        gmail_calls=0, retries=0, rate_limited=0, server_errors=0,
                        consecutive_failures=0)
    r = row or empty
    return SyncStateOut(
        mailbox_id=mailbox.id, mailbox_state=mailbox.state, phase=_phase(mailbox, row),
        running=_running(row), lease_holder=r.lease_owner if _running(row) else None,
        lease_expires_at=r.lease_expires_at, heartbeat_at=r.heartbeat_at,
        history_id=str(r.history_id) if r.history_id is not None else None,
        sync_requested_at=mailbox.sync_requested_at, last_attempt_at=r.last_attempt_at,
        last_success_at=r.last_success_at, last_error=r.last_error,
        last_error_at=r.last_error_at, consecutive_failures=r.consecutive_failures,
        backoff_seconds=r.backoff_seconds, next_attempt_at=r.next_attempt_at,
        full_sync=FullSyncOut(reason=r.full_reason, started_at=r.full_started_at,
                              completed_at=r.full_completed_at, pages_done=r.full_pages_done,
                              messages_done=r.full_messages_done, completed_count=r.full_syncs),
        counts=SyncCountsOut(messages_stored=stored, messages_fetched=r.messages_fetched,
                             messages_deleted=r.messages_deleted,
                             label_changes=r.label_changes),
        quota=SyncQuotaOut(units_spent=r.units_spent, gmail_calls=r.gmail_calls,
                           retries=r.retries, rate_limited=r.rate_limited,
                           server_errors=r.server_errors),
        retry_after_until=r.retry_after_until)


def get_sync(mailbox_id: str, request: Request, session: SessionDep,
             access: AccessDep) -> SyncStateOut:
    return sync_view(session, request.state.mailbox)


def request_sync(mailbox_id: str, request: Request, session: SessionDep,
                 access: AccessDep) -> SyncStateOut:
    """Set the "please sync" flag (kept if already set: requests coalesce) and cut a backoff
    short (see the module docstring)."""
    mailbox: Mailbox = request.state.mailbox
    if mailbox.state != MailboxState.active:
        raise MailboxNotSyncable(f"the mailbox is {mailbox.state}; it syncs again once it is "
                                 "active (reconnect it if its tokens are dead)",
                                 extra={"mailbox_state": mailbox.state,
                                        "reconnect_url": mailbox.reconnect_url})
    session.execute(update(Mailbox).where(Mailbox.id == mailbox.id,
                                          Mailbox.sync_requested_at.is_(None))
                    .values(sync_requested_at=utcnow()))
    settings: Settings = runtime_of(request).settings
    cut_backoff(session, mailbox.id, settings)
    session.refresh(mailbox)
    return sync_view(session, mailbox)


router.add("GET", "", get_sync, action=Action.mailbox_read, resource=mailbox_resource(),
           response_model=SyncStateOut)
router.add("POST", "", request_sync, action=Action.mailbox_read, resource=mailbox_resource(),
           response_model=SyncStateOut, status_code=202)
