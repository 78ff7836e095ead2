"""The `justifications` table: who may read which mailbox for which security/legal case, until
when, recorded by whom. Ids of messages/threads only; the free-text reason is sealed with the
mailbox's data key because it describes the user (and crypto-shredding the mailbox erases it)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crypto.fields import EncryptedColumn
from gateway.crypto.sealed import Sealed
from gateway.kit.models import Base, CreatedMixin, IdMixin

TABLE = "justifications"


class Justification(IdMixin, CreatedMixin, Base):
    __tablename__ = TABLE
    __table_args__ = (
        Index("ix_justifications_mailbox_expires", "mailbox_id", "expires_at"),
        Index("ix_justifications_tenant_created", "tenant_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    # Exactly one of the two (checked by the schema and the service): a named operator, or an
    # operator group (matched against the operator principal's groups, as consent grants are).
    operator_principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), default=None)
    operator_group: Mapped[str | None] = mapped_column(String(100), default=None)
    # Both empty: the whole mailbox. Otherwise only these messages / threads.
    message_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    thread_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(16))  # security | legal
    case_ref: Mapped[str] = mapped_column(String(64))
    reason: Mapped[Sealed] = mapped_column(EncryptedColumn())
    # A reviewer principal. No ON DELETE CASCADE: deleting the principal who authorised human
    # access must not erase the record of it (principals are disabled, not deleted).
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
