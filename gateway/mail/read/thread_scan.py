"""Which threads are on a page of the thread list, without aggregating the whole mailbox.

Threads are ordered by their newest *matching* message (no filter: their newest message). So a
page is found by walking the messages newest first on `ix_messages_mailbox_date` and taking
thread ids in order of first appearance: the work is proportional to the messages walked, not
to the mailbox (a GROUP BY over the mailbox measured 420 ms per page at 100,000 messages).

The cursor is the keyset position `(internal_date, id)` of the message where the page's last
thread first appeared. Walking on from there, a thread that also has a matching message above
the cursor was already served (or already refused) and is skipped. Filters that are about a
whole thread ("no unread message", "no attachment") are checked per candidate thread with one
grouped query per batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from gateway.mail.models import Message
from gateway.mail.read.repository import has_label
from gateway.mailboxes.models import Mailbox

_BATCH_FACTOR = 4


@dataclass(frozen=True)
class ThreadFilter:
    label: str | None = None
    unread: bool | None = None
    has_attachment: bool | None = None

    def per_message(self, mailbox_id: uuid.UUID) -> ColumnElement[bool]:
        """What a message must satisfy for its thread to match (the positive filters)."""
        conditions: list[ColumnElement[bool]] = []
        if self.label is not None:
            conditions.append(has_label(self.label, mailbox_id))
        if self.unread:
            conditions.append(has_label("UNREAD", mailbox_id))
        if self.has_attachment:
            conditions.append(Message.attachment_count > 0)
        return and_(true(), *conditions)

    def per_thread(self, mailbox_id: uuid.UUID) -> list[ColumnElement[bool]]:
        """HAVING conditions over a thread's messages (the negative filters)."""
        having: list[ColumnElement[bool]] = []
        if self.unread is False:
            having.append(func.sum(case((has_label("UNREAD", mailbox_id), 1), else_=0)) == 0)
        if self.has_attachment is False:
            having.append(func.sum(Message.attachment_count) == 0)
        return having


@dataclass(frozen=True)
class Position:
    when: datetime
    message_id: uuid.UUID


def _after(position: Position) -> ColumnElement[bool]:
    return or_(Message.internal_date < position.when,
               and_(Message.internal_date == position.when,
                    Message.id < position.message_id))


def _above(position: Position) -> ColumnElement[bool]:
    return or_(Message.internal_date > position.when,
               and_(Message.internal_date == position.when,
                    Message.id > position.message_id))


def thread_page(session: Session, mailbox: Mailbox, filters: ThreadFilter,
                cursor: Position | None, limit: int) -> tuple[list[tuple[str, Position]], bool]:
    """Up to `limit` (thread id, first-appearance position) pairs after `cursor`, and whether
    more follow."""
    match = filters.per_message(mailbox.id)
    in_mailbox = Message.mailbox_id == mailbox.id
    found: list[tuple[str, Position]] = []
    decided: set[str] = set()
    scan_from = cursor
    batch_size = max(limit + 1, 16) * _BATCH_FACTOR
    while len(found) <= limit:
        query = select(Message.thread_id, Message.internal_date, Message.id).where(
            in_mailbox, match)
        if scan_from is not None:
            query = query.where(_after(scan_from))
        batch = session.execute(query.order_by(Message.internal_date.desc(), Message.id.desc())
                                .limit(batch_size)).all()
        if not batch:
            break
        firsts: dict[str, Position] = {}
        for thread_id, when, message_id in batch:
            if thread_id not in decided and thread_id not in firsts:
                firsts[thread_id] = Position(when, message_id)
        accepted = _accept(session, mailbox.id, match, filters, cursor, list(firsts))
        for thread_id, position in firsts.items():
            decided.add(thread_id)
            if thread_id in accepted:
                found.append((thread_id, position))
        last = batch[-1]
        scan_from = Position(last[1], last[2])
        if len(batch) < batch_size:
            break
    return found[:limit], len(found) > limit


def _accept(session: Session, mailbox_id: uuid.UUID, match: ColumnElement[bool],
            filters: ThreadFilter, cursor: Position | None,
            candidates: Sequence[str]) -> set[str]:
    if not candidates:
        return set()
    in_mailbox = Message.mailbox_id == mailbox_id
    accepted = set(candidates)
    if cursor is not None:   # already served above the cursor
        seen: Any = session.scalars(select(Message.thread_id).distinct().where(
            in_mailbox, match, Message.thread_id.in_(candidates), _above(cursor)))
        accepted -= set(seen)
    having = filters.per_thread(mailbox_id)
    if having and accepted:
        ok: Any = session.scalars(select(Message.thread_id).where(
            in_mailbox, Message.thread_id.in_(accepted)).group_by(Message.thread_id)
            .having(and_(*having)))
        accepted = set(ok)
    return accepted
