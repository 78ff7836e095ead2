"""Idempotency keys for writes that must not happen twice (sending mail).

Gmail has no idempotency of its own: a retried `messages.send` sends again. So the gateway
remembers, per (caller, mailbox, operation, `Idempotency-Key`), the request's fingerprint and,
once Gmail answered, the response it gave:

- first request: a row `in_progress` is inserted and **committed on its own** before Gmail is
  called, so a concurrent retry sees it;
- a retry while the first is in flight → 409 `idempotency_request_in_progress` (retry later);
- a retry after success with the same body → the stored response, Gmail is not called;
- the same key with a different body → 422 `idempotency_key_reused`;
- Gmail refused the request (nothing was sent) → the row is deleted: the key may be reused;
- after `mail_idempotency_ttl_hours` the key is forgotten.

The key and the body are stored only as keyed blind indexes (HMAC under the tenant's
blind-index key): the table holds no message content and no caller-chosen strings. The stored
response is ids only (message id, thread id, labels).

When Gmail's answer is lost (timeout, 5xx: the message may or may not have gone out) the row
becomes `outcome_unknown` instead of being released; a process that dies between Gmail's answer
and the completion leaves it `in_progress` until it is `stale_after` old. A retry of either is
a *recheck*: the claim is re-armed and the caller first looks in Gmail for the message the
first attempt built (its Message-ID is derived from the row's id, see `message_id_for`); only
if Gmail has none is it sent again, with the same Message-ID. See docs/mail-api.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.kit.errors import Conflict, ValidationFailed
from gateway.kit.models import Base, CreatedMixin, IdMixin
from gateway.kit.timeutil import as_utc, utcnow

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
OUTCOME_UNKNOWN = "outcome_unknown"
STALE_AFTER = timedelta(minutes=5)  # far beyond the Gmail client's 30 s timeout


class IdempotencyRecord(IdMixin, CreatedMixin, Base):
    __tablename__ = "mail_idempotency_keys"
    __table_args__ = (UniqueConstraint("mailbox_id", "key_index"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"))
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    operation: Mapped[str] = mapped_column(String(64))
    # blind_index(tenant, "idempotency-key", principal|mailbox|operation|key)
    key_index: Mapped[bytes] = mapped_column(LargeBinary(16))
    # blind_index(tenant, "idempotency-request", canonical request body)
    request_index: Mapped[bytes] = mapped_column(LargeBinary(16))
    state: Mapped[str] = mapped_column(String(16), default=IN_PROGRESS)
    response_status: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class InProgress(Conflict):
    code = "idempotency_request_in_progress"
    title = "A request with this Idempotency-Key is in progress"


class KeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used for a different request"


@dataclass(frozen=True)
class KeyClaim:
    """The outcome of presenting a key: either a fresh claim (`record_id`) to complete, or the
    stored response of the earlier request (`replay`)."""

    record_id: uuid.UUID | None
    replay: dict[str, Any] | None = None
    replay_status: int | None = None
    # An earlier attempt may have reached Gmail: look for its message before sending again.
    recheck: bool = False


def message_id_for(record_id: uuid.UUID, domain: str) -> str:
    """The Message-ID of a send claimed as `record_id`: the same on every attempt, so a retry
    can ask Gmail (`rfc822msgid:`) whether an earlier attempt went out. Reveals nothing: the
    row id is random."""
    return f"<{record_id}@{domain}>"



def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise ValidationFailed(f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII "
                               "characters", code="invalid_idempotency_key")
    return key


class IdempotencyKeys:
    def __init__(self, database: Database, crypto: CryptoService, *, ttl: timedelta,
                 stale_after: timedelta = STALE_AFTER) -> None:
        self.database = database
        self.crypto = crypto
        self.ttl = ttl
        self.stale_after = stale_after

    def _indexes(self, tenant: uuid.UUID, principal: uuid.UUID, mailbox: uuid.UUID,
                 operation: str, key: str, body: bytes) -> tuple[bytes, bytes]:
        scope = f"{principal}|{mailbox}|{operation}|{key}"
        return (self.crypto.blind_index(tenant, "idempotency-key", scope),
                self.crypto.blind_index(tenant, "idempotency-request", body))

    def claim(self, *, tenant: uuid.UUID, principal: uuid.UUID, mailbox: uuid.UUID,
              operation: str, key: str, body: bytes) -> KeyClaim:
        """Claim `key` for this request (committed at once), or return the earlier answer."""
        key_index, request_index = self._indexes(tenant, principal, mailbox, operation,
                                                 check_key(key), body)
        now = utcnow()
        for _attempt in range(3):
            with self.database.independent_session() as session:
                existing = session.scalar(select(IdempotencyRecord).where(
                    IdempotencyRecord.mailbox_id == mailbox,
                    IdempotencyRecord.key_index == key_index).with_for_update())
                if existing is not None and as_utc(existing.expires_at) <= now:
                    session.delete(existing)
                    session.flush()
                    existing = None
                if existing is not None:
                    if existing.request_index != request_index:
                        raise KeyReused("the same Idempotency-Key was sent with a different "
                                        "request body; use a new key for a new request")
                    if self._needs_recheck(existing, now):
                        existing.state = IN_PROGRESS
                        existing.created_at = now  # the claim's time: re-armed for this try
                        return KeyClaim(existing.id, recheck=True)
                    if existing.state == COMPLETED:
                        return KeyClaim(None, replay=dict(existing.response_body or {}),
                                     replay_status=existing.response_status)
                    raise InProgress("the first request with this Idempotency-Key has not "
                                     "finished; retry in a few seconds",
                                     headers={"Retry-After": "2"})
            try:
                with self.database.independent_session() as session:
                    record = IdempotencyRecord(
                        tenant_id=tenant, mailbox_id=mailbox, principal_id=principal,
                        operation=operation, key_index=key_index, request_index=request_index,
                        state=IN_PROGRESS, expires_at=now + self.ttl)
                    session.add(record)
                    session.flush()
                    return KeyClaim(record.id)
            except IntegrityError:
                continue  # a concurrent request inserted it first: look again
        raise InProgress("the first request with this Idempotency-Key has not finished; "
                         "retry in a few seconds", headers={"Retry-After": "2"})

    def _needs_recheck(self, record: IdempotencyRecord, now: datetime) -> bool:
        """Gmail's answer was lost, or the process handling it died (in progress far too
        long): the outcome of the earlier attempt is unknown."""
        if record.state == OUTCOME_UNKNOWN:
            return True
        stale = as_utc(record.created_at) + self.stale_after <= now
        return record.state == IN_PROGRESS and stale

    def complete(self, record_id: uuid.UUID, status: int, body: dict[str, Any]) -> None:
        """Remember Gmail's answer (committed at once, whatever the request does next)."""
        with self.database.independent_session() as session:
            record = session.get(IdempotencyRecord, record_id)
            if record is not None:
                record.state = COMPLETED
                record.response_status = status
                record.response_body = body
                record.completed_at = utcnow()

    def mark_unknown(self, record_id: uuid.UUID) -> None:
        """Gmail may have acted (timeout, 5xx): keep the claim so a retry rechecks first."""
        with self.database.independent_session() as session:
            record = session.get(IdempotencyRecord, record_id)
            if record is not None and record.state == IN_PROGRESS:
                record.state = OUTCOME_UNKNOWN

    def release(self, record_id: uuid.UUID) -> None:
        """Nothing was sent: forget the claim so the key can be used again."""
        with self.database.independent_session() as session:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))

    def purge_expired(self, now: datetime | None = None) -> int:
        with self.database.independent_session() as session:
            result = session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.expires_at <= (now or utcnow())))
            return int(getattr(result, "rowcount", 0) or 0)
