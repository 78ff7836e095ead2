"""Per-mailbox sync state (`mailbox_sync`) and the ids a full sync has seen (`sync_seen`).

`mailbox_sync` is the scheduler's queue and the sync's checkpoint at once: the lease columns say
which worker holds the mailbox, the `full_*` columns let a crashed full sync resume at the page it
stopped on, `history_id` is where the next incremental sync starts. Nothing here is user
content (ids, counts, times and error codes only), so nothing is sealed.

`sync_seen` holds the Gmail ids listed by the current full sync, so that a resync after an
expired history can remove exactly the messages that vanished from Gmail, even when it was
interrupted and resumed by another worker.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base
from gateway.kit.timeutil import utcnow


class SyncPhase:
    pending = "pending"          # connected, never synced
    full = "full"                # a full sync is under way (checkpointed)
    incremental = "incremental"  # up to date as of history_id; history.list from there
    stopped = "stopped"          # the mailbox needs its user (reauth, restricted, no scope)


class MailboxSync(Base):
    __tablename__ = "mailbox_sync"

    mailbox_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                 index=True)
    phase: Mapped[str] = mapped_column(String(16), default=SyncPhase.pending)
    # Where incremental sync continues (None until the first full sync completed).
    history_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The running full sync: the profile's historyId taken at its start, its reason
    # (initial | history_expired | requested), the page token of the page being worked on.
    full_history_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    full_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    full_page_token: Mapped[str | None] = mapped_column(String(512), default=None)
    full_pages_done: Mapped[int] = mapped_column(default=0)
    full_messages_done: Mapped[int] = mapped_column(default=0)
    full_started_at: Mapped[datetime | None] = mapped_column(default=None)
    full_completed_at: Mapped[datetime | None] = mapped_column(default=None)
    full_syncs: Mapped[int] = mapped_column(default=0)
    # Totals since the mailbox was connected. `retries`, `rate_limited` and `server_errors` are
    # written when they happen (their own small transaction), the others with each step.
    messages_fetched: Mapped[int] = mapped_column(BigInteger, default=0)
    messages_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    label_changes: Mapped[int] = mapped_column(BigInteger, default=0)
    units_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    gmail_calls: Mapped[int] = mapped_column(BigInteger, default=0)
    retries: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_limited: Mapped[int] = mapped_column(BigInteger, default=0)
    server_errors: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Scheduling and errors.
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    # Float, as the migration made it (a bare float annotation maps to Double)
    backoff_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    # Until when Google asked not to be called again (its last Retry-After): an owner's sync
    # request may cut the backoff short, never this.
    retry_after_until: Mapped[datetime | None] = mapped_column(default=None)
    # The lease: who holds the mailbox, until when; the token fences a worker whose lease
    # expired and was taken over (its writes are refused).
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_token: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncSeen(Base):
    __tablename__ = "sync_seen"

    mailbox_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    gmail_id: Mapped[str] = mapped_column(String(64), primary_key=True)
