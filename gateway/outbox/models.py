"""The outbox table (`webhook_events`) and the types of event it holds."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base, CreatedMixin, IdMixin
from gateway.kit.timeutil import utcnow


class EventType(StrEnum):
    message_created = "message.created"
    message_updated = "message.updated"   # its labels changed
    message_deleted = "message.deleted"
    mailbox_state_changed = "mailbox.state_changed"
    mailbox_data_deleted = "mailbox.data_deleted"  # its synced messages were deleted


class WebhookEvent(IdMixin, CreatedMixin, Base):
    """The outbox. `payload` holds ids and non-content metadata only (docs/webhooks.md); its id
    is the event id the receiver deduplicates on."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_dispatch", "dispatched_at", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
