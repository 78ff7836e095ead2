"""Appends operation-log entries. A write that fails raises `OperationLogUnavailable`, which the
enforcement point turns into a refusal (fail closed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.audit.models import AuditEntry
from gateway.kit.models import utcnow


class OperationLogUnavailable(Exception):
    """The operation log could not be written; the access must be refused."""


@dataclass(frozen=True)
class LogRecord:
    """What the enforcement point knows about one access. Never content."""

    request_id: str
    actor_kind: str
    actor_id: str
    connection_id: str
    protocol: str
    operation: str
    action: str
    purpose: str
    decision: str
    reasons: tuple[str, ...]
    policy_revision: str
    tenant_id: uuid.UUID | None = None
    mailbox_id: uuid.UUID | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    device_id: str | None = None
    resource_type: str | None = None
    resource_ids: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)


class OperationLog:
    def append(self, session: Session, record: LogRecord) -> AuditEntry:
        entry = AuditEntry(
            occurred_at=record.occurred_at, request_id=record.request_id,
            tenant_id=record.tenant_id, mailbox_id=record.mailbox_id,
            actor_kind=record.actor_kind, actor_id=record.actor_id,
            connection_id=record.connection_id, client_ip=record.client_ip,
            user_agent=(record.user_agent or None) and record.user_agent[:256],
            device_id=record.device_id, protocol=record.protocol, operation=record.operation,
            action=record.action, purpose=record.purpose, resource_type=record.resource_type,
            resource_ids=list(record.resource_ids), decision=record.decision,
            reasons=list(record.reasons), policy_revision=record.policy_revision,
            detail=dict(record.detail),
        )
        try:
            session.add(entry)
            session.flush()
        except SQLAlchemyError as exc:
            raise OperationLogUnavailable("the operation log could not be written") from exc
        return entry
