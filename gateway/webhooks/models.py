"""Tables of the webhooks: the CRM's endpoints and the deliveries of the outbox's events
(gateway.outbox).

The dispatcher fans each event out to one delivery per subscribed endpoint; a delivery is
retried with backoff until it is `delivered` or `dead`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crypto import EncryptedColumn, Sealed
from gateway.kit.models import Base, CreatedMixin, IdMixin
from gateway.kit.timeutil import utcnow

ENDPOINTS_TABLE = "webhook_endpoints"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"


class WebhookEndpoint(IdMixin, CreatedMixin, Base):
    """Where a tenant's CRM wants events. The signing secret is sealed under the tenant's
    webhook key (gateway.webhooks.secrets); it is shown once, at creation and rotation."""

    __tablename__ = ENDPOINTS_TABLE
    __table_args__ = (Index("ix_webhook_endpoints_tenant_created", "tenant_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every type
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[Sealed] = mapped_column(EncryptedColumn())
    secret_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(IdMixin, CreatedMixin, Base):
    """One event for one endpoint. `attempt_log` keeps each attempt's time, status code or error
    and the backoff chosen after it (bounded by `webhook_max_attempts` per redelivery)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
