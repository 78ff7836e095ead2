"""Tables of the crypto layer: one row per mailbox data-key version, wrapped, never in clear.

A destroyed (crypto-shredded) mailbox keeps tombstone rows (`wrapped_key` NULL, `destroyed_at`
set) so that nothing can silently create a fresh key for it later and so the shredding is on
record. No foreign key to `mailboxes`: the key must outlive, and be destroyable independently
of, whatever the mail domain does with its rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, LargeBinary, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base, CreatedMixin, IdMixin


class MailboxDataKey(IdMixin, CreatedMixin, Base):
    __tablename__ = "mailbox_data_keys"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("(wrapped_key IS NULL) = (destroyed_at IS NOT NULL)",
                        name="key_xor_destroyed"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    mailbox_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    kek_version: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(nullable=True)
