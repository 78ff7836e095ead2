"""Consent grants and access requests. Ids of messages/threads only, never content. An access
request's `justification` is an operator's free text about the user's mail: it is sealed with the
mailbox's data key, so crypto-shredding the mailbox erases it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crypto.fields import EncryptedColumn
from gateway.crypto.sealed import Sealed
from gateway.kit.models import Base, CreatedMixin, IdMixin

REQUESTS_TABLE = "consent_requests"


class ConsentGrant(IdMixin, CreatedMixin, Base):
    __tablename__ = "consent_grants"
    __table_args__ = (Index("ix_consent_grants_mailbox_expires", "mailbox_id", "expires_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    owner_principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"))
    operator_principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), default=None)
    operator_group: Mapped[str | None] = mapped_column(String(100), default=None)
    message_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    thread_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    request_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class ConsentRequest(IdMixin, CreatedMixin, Base):
    __tablename__ = REQUESTS_TABLE
    __table_args__ = (Index("ix_consent_requests_mailbox_status", "mailbox_id", "status"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    operator_principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"))
    message_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    thread_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(String(64))
    # Sealed (`gateway.consent.service.justification_binding`); NULL only where there was no
    # text to seal.
    justification: Mapped[Sealed | None] = mapped_column(EncryptedColumn(), default=None)
    requested_minutes: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    grant_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
