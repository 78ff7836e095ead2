"""Mailboxes: one connected Google account per tenant. Content tables arrive with sync."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base, CreatedMixin, IdMixin, utcnow
from gateway.policy.vocabulary import MailboxState


class Mailbox(IdMixin, CreatedMixin, Base):
    __tablename__ = "mailboxes"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                 index=True)
    owner_principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(32), default=MailboxState.active.value)
    granted_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
