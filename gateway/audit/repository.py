"""Reviewer queries over the log: filters (always within one tenant), newest first, keyset
pagination with an opaque cursor bound to the filters it was issued for."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, tuple_
from sqlalchemy.orm import Session

from gateway.audit.canonical import from_micros, micros
from gateway.audit.errors import InvalidCursor
from gateway.audit.models import AuditCheckpoint, AuditEntry
from gateway.kit.timeutil import as_utc

MAX_PAGE = 1000
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class AuditFilter:
    tenant_id: uuid.UUID
    mailbox_id: uuid.UUID | None = None
    actor_id: str | None = None
    actor_kind: str | None = None
    action: str | None = None
    operation: str | None = None
    decision: str | None = None
    purpose: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Entries the policy flagged for review (security/legal human access, operator transfers):
    # `detail.flag_for_review`, written by the enforcement point.
    flagged: bool | None = None

    def digest(self) -> str:
        fields = {k: (micros(v) if isinstance(v, datetime) else
                      str(v) if isinstance(v, uuid.UUID) else v)
                  for k, v in asdict(self).items()}
        encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()[:16]

    def conditions(self) -> list[ColumnElement[bool]]:
        e = AuditEntry
        where: list[ColumnElement[bool]] = [e.tenant_id == self.tenant_id]
        if self.mailbox_id is not None:
            where.append(e.mailbox_id == self.mailbox_id)
        for column, value in ((e.actor_id, self.actor_id), (e.actor_kind, self.actor_kind),
                              (e.action, self.action), (e.operation, self.operation),
                              (e.decision, self.decision), (e.purpose, self.purpose)):
            if value is not None:
                where.append(column == value)
        if self.since is not None:
            where.append(e.occurred_at >= as_utc(self.since))
        if self.until is not None:
            where.append(e.occurred_at < as_utc(self.until))
        if self.flagged is not None:
            flag = e.detail["flag_for_review"].as_boolean()
            where.append(flag.is_(True) if self.flagged else or_(flag.is_(None), flag.is_(False)))
        return where


def encode_cursor(entry: AuditEntry, query: AuditFilter) -> str:
    payload = {"v": _CURSOR_VERSION, "t": micros(entry.occurred_at), "i": entry.id.hex,
               "f": query.digest()}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, query: AuditFilter) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload: Any = json.loads(raw)
        if not isinstance(payload, dict) or payload.get("v") != _CURSOR_VERSION:
            raise ValueError("version")
        position = (from_micros(int(payload["t"])), uuid.UUID(hex=str(payload["i"])))
        digest = str(payload["f"])
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError,
            UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this API issued") from None
    if digest != query.digest():
        raise InvalidCursor("the cursor belongs to a query with other filters")
    return position


def _ordered(query: AuditFilter, after: tuple[datetime, uuid.UUID] | None
             ) -> Select[AuditEntry]:
    statement = select(AuditEntry).where(*query.conditions())
    if after is not None:
        statement = statement.where(
            tuple_(AuditEntry.occurred_at, AuditEntry.id) < tuple_(after[0], after[1]))
    return statement.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())


def page(session: Session, query: AuditFilter, *, limit: int = 100,
         cursor: str | None = None) -> tuple[list[AuditEntry], str | None]:
    """One page, newest first, and the cursor of the next page (None at the end)."""
    limit = max(1, min(limit, MAX_PAGE))
    after = decode_cursor(cursor, query) if cursor else None
    rows = list(session.scalars(_ordered(query, after).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1], query)


def iterate(session: Session, query: AuditFilter, *, batch: int = 1000
            ) -> Iterator[AuditEntry]:
    """Every matching entry, newest first, one keyset page at a time (for exports)."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        rows = list(session.scalars(_ordered(query, after).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].occurred_at, rows[-1].id)
        session.expunge_all()


def checkpoints(session: Session) -> Iterator[AuditCheckpoint]:
    """Every signed checkpoint, by chain and position."""
    yield from session.scalars(select(AuditCheckpoint).order_by(
        AuditCheckpoint.shard, AuditCheckpoint.seq).execution_options(yield_per=1000))


def whole_log(session: Session, *, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every entry of every tenant, in storage order (an export for an independent verifier,
    which sorts by chain position itself)."""
    yield from session.scalars(select(AuditEntry).execution_options(yield_per=batch))
