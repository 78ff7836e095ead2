"""The operation-log table. Ids of content only, never content, subjects or tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_tenant_mailbox_time", "tenant_id", "mailbox_id", "occurred_at"),
        Index("ix_audit_entries_actor_time", "actor_id", "occurred_at"),
        Index("ix_audit_entries_shard_seq", "shard", "seq", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    shard: Mapped[int] = mapped_column(default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32), default=b"")
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), default=b"")

    request_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor_kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[str] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(256), default=None)
    device_id: Mapped[str | None] = mapped_column(String(128), default=None)
    protocol: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str | None] = mapped_column(String(32), default=None)
    resource_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    policy_revision: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
