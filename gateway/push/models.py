"""The state of each mailbox's Gmail watch (`users.watch`) and of the pushes it brought.

Gmail names the mailbox in a push only by its email address, and mailboxes keep that address
sealed. `address_index` is the tenant-keyed blind index of the address the watch was made for
(`CryptoService.blind_index_email`), so the push endpoint can find the mailbox without a
plaintext address anywhere (docs/push.md, "Finding the mailbox"). Counters and the last error
are operational facts, never content."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base, CreatedMixin
from gateway.kit.timeutil import utcnow

WATCHES_TABLE = "mailbox_watches"


class MailboxWatch(CreatedMixin, Base):
    __tablename__ = WATCHES_TABLE
    __table_args__ = (Index("ix_mailbox_watches_address_index", "address_index"),)

    mailbox_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                 index=True)
    address_index: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=None)
    topic: Mapped[str | None] = mapped_column(String(255), default=None)
    # What Google answered to the last successful users.watch.
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    history_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    renewed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last attempt, successful or not, and why it failed (a stable code, never content).
    attempted_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(64), default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    # Pushes that named this mailbox: received, and how many found a sync already pending.
    last_push_at: Mapped[datetime | None] = mapped_column(default=None)
    last_push_history_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    pushes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    pushes_coalesced: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
