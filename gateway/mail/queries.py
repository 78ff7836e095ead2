"""Store queries shared by the read routes: filters on the clear columns (labels, dates,
attachments, the address blind index) and keyset conditions.

Label filters match the JSON text of `label_ids` (`"INBOX"` with its quotes) with an escaped
LIKE, which PostgreSQL and SQLite evaluate the same way: label ids are restricted to
`[A-Za-z0-9_-]` (the route refuses anything else), so their JSON spelling is the id itself between
quotes and cannot match part of another id. This keeps every filter in SQL, so a page costs a
bounded index scan, never a Python loop over the whole mailbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, cast, or_, select

from gateway.crypto import CryptoService
from gateway.kit.errors import BadRequest, ValidationFailed
from gateway.mail.models import Mailbox, Message, MessageAddress

LABEL_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,100}$"


def has_label(label: str) -> ColumnElement[bool]:
    return cast(Message.label_ids, Text).contains(f'"{label}"', autoescape=True)


def address_index(crypto: CryptoService, mailbox: Mailbox, address: str) -> bytes:
    try:
        return crypto.blind_index_email(mailbox.tenant_id, address)
    except ValueError:
        raise BadRequest("this is not an email address", code="invalid_address") from None


def with_address(query: Select[Any], mailbox: Mailbox, index: bytes) -> Select[Any]:
    return query.where(Message.id.in_(select(MessageAddress.message_id).where(
        MessageAddress.mailbox_id == mailbox.id, MessageAddress.address_index == index)))


def check_range(after: datetime | None, before: datetime | None) -> None:
    for name, value in (("after", after), ("before", before)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a timezone (e.g. 2026-11-10T10:00:00Z)",
                                   code="invalid_date")
    if after is not None and before is not None and after >= before:
        raise ValidationFailed("after must be earlier than before", code="invalid_date_range")


def message_filters(query: Select[Any], *, label: str | None = None,
                    thread_id: str | None = None, unread: bool | None = None,
                    has_attachment: bool | None = None, after: datetime | None = None,
                    before: datetime | None = None) -> Select[Any]:
    check_range(after, before)
    if label is not None:
        query = query.where(has_label(label))
    if thread_id is not None:
        query = query.where(Message.thread_id == thread_id)
    if unread is not None:
        query = query.where(has_label("UNREAD") if unread else ~has_label("UNREAD"))
    if has_attachment is not None:
        query = query.where(Message.attachment_count > 0 if has_attachment
                            else Message.attachment_count == 0)
    if after is not None:
        query = query.where(Message.internal_date >= after)
    if before is not None:
        query = query.where(Message.internal_date < before)
    return query


def newest_first_after(when: datetime, last_id: uuid.UUID) -> ColumnElement[bool]:
    """Messages after the cursor in (internal_date desc, id desc) order."""
    return or_(Message.internal_date < when,
               and_(Message.internal_date == when, Message.id < last_id))
