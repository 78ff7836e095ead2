"""Store queries shared by the read routes: filters on the clear columns (labels, dates,
attachments, the address blind index) and keyset conditions.

Label filters (`has_label`) compile per dialect. PostgreSQL: `gw_mailbox_label_keys(mailbox_id,
label_ids) @> ARRAY['<mailbox>:<label>']`, the expression of the GIN index of migration 0014, so
a rare label is found through the index instead of a walk of the whole mailbox (the planner
still walks the (mailbox, date) index for a common one). Elsewhere (SQLite, the demo): an escaped
LIKE on the JSON text of `label_ids` (`"INBOX"` with its quotes). Both are exact: label ids are
restricted to `[A-Za-z0-9_-]` (the route refuses anything else), so their JSON spelling is the id
between quotes and cannot match part of another id, and a mailbox id holds no `:`. Every filter
stays in SQL, so a page never costs a Python loop over the mailbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from gateway.crypto import CryptoService
from gateway.kit.errors import BadRequest, ValidationFailed
from gateway.kit.ids import LABEL_ID
from gateway.mail.models import Message, MessageAddress
from gateway.mailboxes.models import Mailbox


class _HasLabel(FunctionElement[bool]):
    """has_label(mailbox_id column, label_ids column, LIKE pattern, `<mailbox>:<label>` key).

    On PostgreSQL the key is a `literal_execute` parameter: SQLAlchemy caches the compiled
    statement as usual and writes the value into the SQL text at execution. With an ordinary
    parameter, a server-side prepared statement (psycopg prepares after 5 runs) may switch to a
    generic plan, which cannot know whether the label is rare, and took the label index for
    INBOX too: 19 ms instead of 0.35 ms on a 50,000-message mailbox (bench/label_filter_bench.py).
    The key is a UUID and a `[A-Za-z0-9_-]` label id (checked in has_label)."""

    type = Boolean()
    name = "has_label"
    inherit_cache = True


@compiles(_HasLabel)
def _has_label_like(element: _HasLabel, compiler: SQLCompiler, **kw: Any) -> str:
    _, label_ids, pattern, _ = list(element.clauses)
    text = compiler.process(cast(label_ids, Text), **kw)
    return f"({text} LIKE {compiler.process(pattern, **kw)} ESCAPE '/')"


@compiles(_HasLabel, "postgresql")
def _has_label_indexed(element: _HasLabel, compiler: SQLCompiler, **kw: Any) -> str:
    mailbox_id, label_ids, _, key = list(element.clauses)
    return (f"(gw_mailbox_label_keys({compiler.process(mailbox_id, **kw)}, "
            f"{compiler.process(label_ids, **kw)}) @> ARRAY[{compiler.process(key, **kw)}]"
            "::text[])")


def has_label(label: str, mailbox_id: uuid.UUID) -> ColumnElement[bool]:
    """The message (of mailbox `mailbox_id`, which the query must also require) has `label`."""
    if not LABEL_ID.fullmatch(label):
        raise BadRequest("label ids are letters, digits, '_' and '-'", code="invalid_label")
    escaped = label.replace("/", "//").replace("%", "/%").replace("_", "/_")
    key = bindparam(None, f"{uuid.UUID(str(mailbox_id))}:{label}", type_=Text,
                    literal_execute=True)
    return _HasLabel(Message.mailbox_id, Message.label_ids, literal(f'%"{escaped}"%', Text), key)


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


def message_filters(query: Select[Any], mailbox_id: uuid.UUID, *, label: str | None = None,
                    thread_id: str | None = None, unread: bool | None = None,
                    has_attachment: bool | None = None, after: datetime | None = None,
                    before: datetime | None = None) -> Select[Any]:
    check_range(after, before)
    if label is not None:
        query = query.where(has_label(label, mailbox_id))
    if thread_id is not None:
        query = query.where(Message.thread_id == thread_id)
    if unread is not None:
        unread_label = has_label("UNREAD", mailbox_id)
        query = query.where(unread_label if unread else ~unread_label)
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
