"""Claiming mailboxes for sync with leases, fencing, heartbeats and outcomes.

A mailbox is due when its user or a push asked (`mailboxes.sync_requested_at`), when a full sync
is unfinished, or when its last success is older than `sync_poll_interval_seconds`; never while
another worker's lease is live, and never before `next_attempt_at` (backoff). Claiming takes the
row `FOR UPDATE SKIP LOCKED` (PostgreSQL), so concurrent workers pick different mailboxes without
waiting; the update that takes the lease re-checks the row as read (SQLite has no row locks). It
clears `sync_requested_at`, so a push arriving mid-sync schedules another run.

Each claim gets a fresh lease token. Every step of the sync re-checks the token in the same
transaction as its store writes (`fence`): a worker whose lease expired and was taken over
cannot commit anything more, so two workers never write one mailbox's sync at once.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.kit.db import Database
from gateway.kit.timeutil import as_utc, utcnow
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.policy.vocabulary import MailboxState
from gateway.settings import Settings
from gateway.sync.models import MailboxSync, SyncPhase

# Reads of a due mailbox per claim. Only SQLite can lose the race (PostgreSQL's read locks the
# row); a lost race began the write transaction, so the second read is already decisive.
CLAIM_ATTEMPTS = 3


class LeaseLost(Exception):
    """Another worker holds this mailbox now; everything of the current step is rolled back."""


@dataclass(frozen=True)
class Claim:
    mailbox_id: uuid.UUID
    token: uuid.UUID
    owner: str
    # The previous holder's lease had expired without being given back (a dead worker).
    took_over_from: str | None = None



def _connected() -> Any:
    """Mailboxes connected to Google (a mailbox row without tokens has nothing to sync)."""
    return exists().where(OAuthToken.mailbox_id == Mailbox.id)


def ensure_rows(session: Session) -> int:
    """A `mailbox_sync` row for every connected active mailbox that has none yet."""
    missing = list(session.execute(
        select(Mailbox.id, Mailbox.tenant_id).where(
            Mailbox.state == MailboxState.active.value, _connected(),
            ~exists().where(MailboxSync.mailbox_id == Mailbox.id))))
    if not missing:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [{"mailbox_id": mailbox_id, "tenant_id": tenant_id, "phase": SyncPhase.pending,
             "full_pages_done": 0, "full_messages_done": 0, "full_syncs": 0,
             "messages_fetched": 0, "messages_deleted": 0, "label_changes": 0,
             "units_spent": 0, "gmail_calls": 0, "retries": 0, "rate_limited": 0,
             "server_errors": 0, "consecutive_failures": 0, "updated_at": utcnow()}
            for mailbox_id, tenant_id in missing]
    session.execute(insert(MailboxSync).values(rows).on_conflict_do_nothing())
    return len(rows)


def claim_next(database: Database, owner: str, settings: Settings, *,
               now: datetime | None = None) -> Claim | None:
    """Claim the most urgent due mailbox, or None.

    The lease is taken by an `UPDATE` that re-checks the row as it was read (same lease token,
    lease expired, backoff over), so two workers never both win one mailbox. On PostgreSQL the
    `FOR UPDATE SKIP LOCKED` read already makes it theirs; SQLite has no row locks and the read
    is not part of the write transaction, so there the check decides. A lost race begins the
    write transaction, and the next read sees the winner's claim."""
    now = now or utcnow()
    poll_cutoff = now - timedelta(seconds=settings.sync_poll_interval_seconds)
    lease_free = or_(MailboxSync.lease_expires_at.is_(None), MailboxSync.lease_expires_at < now)
    backoff_over = or_(MailboxSync.next_attempt_at.is_(None), MailboxSync.next_attempt_at <= now)
    with database.transaction() as session:
        ensure_rows(session)
        due = or_(Mailbox.sync_requested_at.is_not(None),
                  MailboxSync.phase.in_([SyncPhase.pending, SyncPhase.full]),
                  MailboxSync.last_success_at.is_(None),
                  MailboxSync.last_success_at < poll_cutoff)
        query = (
            select(MailboxSync).join(Mailbox, Mailbox.id == MailboxSync.mailbox_id)
            .where(Mailbox.state == MailboxState.active.value, _connected(), lease_free,
                   backoff_over, due)
            # Asked-for first, then the longest without a successful sync.
            .order_by(Mailbox.sync_requested_at.is_(None),
                      MailboxSync.last_success_at.asc().nulls_first(), MailboxSync.mailbox_id)
            .limit(1).with_for_update(skip_locked=True, of=MailboxSync)
            .execution_options(populate_existing=True))
        for _ in range(CLAIM_ATTEMPTS):
            row = session.scalar(query)
            if row is None:
                return None
            token = uuid.uuid4()
            previous = row.lease_owner if row.lease_token is not None else None
            as_read = (MailboxSync.lease_token.is_(None) if row.lease_token is None
                       else MailboxSync.lease_token == row.lease_token)
            taken = session.execute(
                update(MailboxSync)
                .where(MailboxSync.mailbox_id == row.mailbox_id, as_read, lease_free,
                       backoff_over)
                .values(lease_owner=owner[:128], lease_token=token,
                        lease_expires_at=now + timedelta(seconds=settings.sync_lease_seconds),
                        heartbeat_at=now, last_attempt_at=now)
                .execution_options(synchronize_session=False))
            if not getattr(taken, "rowcount", 0):
                continue  # another worker claimed it between the read and the update
            session.execute(update(Mailbox).where(Mailbox.id == row.mailbox_id)
                            .values(sync_requested_at=None))
            return Claim(row.mailbox_id, token, owner, took_over_from=previous)
        return None


def _hold(session: Session, claim: Claim, settings: Settings) -> MailboxSync | None:
    """The claim's state row with its lease extended, or None when the lease is gone. The
    token is checked by the update that extends the lease, which locks the row (PostgreSQL) or
    takes the write lock (SQLite), so no takeover falls between the check and the commit."""
    now = utcnow()
    extended = session.execute(
        update(MailboxSync).where(MailboxSync.mailbox_id == claim.mailbox_id,
                                  MailboxSync.lease_token == claim.token)
        .values(lease_expires_at=now + timedelta(seconds=settings.sync_lease_seconds),
                heartbeat_at=now)
        .execution_options(synchronize_session=False))
    if not getattr(extended, "rowcount", 0):
        return None
    return session.get(MailboxSync, claim.mailbox_id, populate_existing=True)


def fence(session: Session, claim: Claim, settings: Settings) -> MailboxSync:
    """The claim's state row, locked, with the lease extended; `LeaseLost` if the lease was taken
    over. Call it last in a step's transaction, just before the commit."""
    row = _hold(session, claim, settings)
    if row is None:
        raise LeaseLost(f"lease on mailbox {claim.mailbox_id} lost")
    return row


def heartbeat(database: Database, claim: Claim, settings: Settings) -> bool:
    """Extend the lease while a long step runs; False when the lease is gone."""
    now = utcnow()
    with database.transaction() as session:
        result = session.execute(
            update(MailboxSync).where(MailboxSync.mailbox_id == claim.mailbox_id,
                                      MailboxSync.lease_token == claim.token)
            .values(lease_expires_at=now + timedelta(seconds=settings.sync_lease_seconds),
                    heartbeat_at=now))
        return bool(getattr(result, "rowcount", 0))


def note(database: Database, claim: Claim, **values: Any) -> bool:
    """Record something about the running sync (a retry, a backoff) right away, committed on
    its own, so the API shows it while the sync waits and a failed step keeps it. Best effort.

    An independent unit of work: the step calling Gmail holds its transaction open, and on
    SQLite that transaction holds the one write lock once it has written (its allow entry), so
    a second connection would wait for it until the writer gate gives up (gateway/kit/db.py)."""
    try:
        with database.independent_session() as session:
            result = session.execute(
                update(MailboxSync).where(MailboxSync.mailbox_id == claim.mailbox_id,
                                          MailboxSync.lease_token == claim.token)
                .values(**values))
            return bool(getattr(result, "rowcount", 0))
    except Exception:  # noqa: BLE001 - visibility only; the sync itself goes on
        return False


def backoff_seconds(failures: int, settings: Settings, retry_after: float | None,
                    rng: random.Random | None = None) -> float:
    """Exponential in consecutive failures, equal jitter, at least Retry-After."""
    ceiling = min(settings.sync_backoff_max_seconds,
                  settings.sync_backoff_base_seconds * (2 ** max(failures - 1, 0)))
    jittered = (rng or random).uniform(ceiling / 2, ceiling)
    return max(jittered, retry_after or 0.0)


def release(database: Database, claim: Claim, settings: Settings, *, outcome: str,
            error: str | None = None, retry_after: float | None = None,
            phase: str | None = None, retry_in: float | None = None,
            counts: dict[str, int] | None = None) -> MailboxSync | None:
    """Give the mailbox back: `ok` (synced), `stopped` (needs its user; not retried until the
    mailbox changes or `retry_in`), `failed` (backoff), `interrupted` (shutdown: no penalty).
    `counts` are added to the row's counters (what the run spent since its last checkpoint)."""
    now = utcnow()
    with database.transaction() as session:
        row = _hold(session, claim, settings)
        if row is None:
            return None
        for name, value in (counts or {}).items():
            setattr(row, name, getattr(row, name) + value)
        row.lease_owner = None
        row.lease_token = None
        row.lease_expires_at = None
        if phase is not None:
            row.phase = phase
        if outcome == "ok":
            row.last_success_at = now
            row.consecutive_failures = 0
            row.next_attempt_at = None
        elif outcome == "failed":
            row.consecutive_failures += 1
            delay = backoff_seconds(row.consecutive_failures, settings, retry_after)
            row.backoff_seconds = delay
            row.next_attempt_at = now + timedelta(seconds=delay)
            if retry_after:
                row.retry_after_until = now + timedelta(seconds=retry_after)
        elif outcome == "stopped":
            row.next_attempt_at = now + timedelta(seconds=retry_in) if retry_in else None
        if error is not None:
            row.last_error = error[:200]
            row.last_error_at = now
        return row


def earliest_requested_attempt(row: MailboxSync, settings: Settings, now: datetime) -> datetime:
    """When an owner's sync request may start an attempt on a mailbox in backoff: now, but not
    before Google's last Retry-After has passed, nor sooner than
    `sync_request_min_interval_seconds` after the last attempt (repeated requests cannot turn
    a backoff into a tight loop)."""
    earliest = now
    if row.retry_after_until is not None:
        earliest = max(earliest, as_utc(row.retry_after_until))
    if row.last_attempt_at is not None:
        earliest = max(earliest, as_utc(row.last_attempt_at)
                       + timedelta(seconds=settings.sync_request_min_interval_seconds))
    return earliest


def cut_backoff(session: Session, mailbox_id: uuid.UUID, settings: Settings, *,
                now: datetime | None = None) -> bool:
    """Bring a backing-off mailbox's next attempt forward to `earliest_requested_attempt`
    (True when it moved). Its failure count stays: a failing attempt backs off further."""
    now = now or utcnow()
    row = session.get(MailboxSync, mailbox_id, with_for_update=True, populate_existing=True)
    if row is None or row.next_attempt_at is None:
        return False
    earliest = earliest_requested_attempt(row, settings, now)
    if earliest >= as_utc(row.next_attempt_at):
        return False
    row.next_attempt_at = earliest
    return True
