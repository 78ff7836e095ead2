"""Writing events to the outbox in the transaction of the change they announce.

One mechanism covers the ORM: mapper listeners on `Message` (insert → `message.created`, a change
of `label_ids` → `message.updated`, `session.delete` → `message.deleted`) and on `Mailbox` (a
change of `state`, and a new mailbox → `mailbox.state_changed`) insert the event row on the
flush's own connection, so the event commits or rolls back with the change. They are registered
when this module is imported; gateway.mail.store and gateway.oauth.tokens import it, so every
process that writes messages or mailbox states has them.

Core statements bypass mapper events, so the two Core writes call in explicitly:
`MessageStore.remove` (a Core DELETE) calls `message_removing` first, and the reauth flip
committed on its own (`gateway.oauth.tokens._mark_independently`, a Core UPDATE) calls
`mailbox_state_changed`. A bulk delete of a whole mailbox's messages (disconnect with data
deletion) is announced by one `mailbox.data_deleted` event (the ORM sets `data_deleted_at`), not
by one event per message.

Payloads carry ids and non-content metadata only: never a subject, an address, a body, a label
name or a token (docs/webhooks.md).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Connection, Table, event, insert, inspect, select
from sqlalchemy.orm import Mapper, Session

from gateway.kit.timeutil import utcnow
from gateway.mail.models import Mailbox, Message
from gateway.webhooks.models import EventType, WebhookEvent

EVENT_TABLE = cast(Table, WebhookEvent.__table__)



def event_row(event_type: EventType, tenant_id: uuid.UUID, mailbox_id: uuid.UUID | None,
              data: dict[str, Any]) -> dict[str, Any]:
    """The outbox row; its payload is exactly the JSON body the endpoints receive."""
    event_id = uuid.uuid4()
    now = utcnow()
    payload = {"id": str(event_id), "type": event_type.value,
               "occurred_at": now.isoformat().replace("+00:00", "Z"),
               "tenant_id": str(tenant_id),
               "mailbox_id": str(mailbox_id) if mailbox_id is not None else None,
               "data": data}
    return {"id": event_id, "tenant_id": tenant_id, "mailbox_id": mailbox_id,
            "type": event_type.value, "occurred_at": now, "payload": payload,
            "dispatched_at": None, "created_at": now}


def _message_data(gmail_id: str, thread_id: str | None, label_ids: list[str] | None,
                  **extra: Any) -> dict[str, Any]:
    return {"message_id": gmail_id, "thread_id": thread_id,
            "label_ids": list(label_ids) if label_ids is not None else None, **extra}


def _mailbox_data(mailbox_state: str, previous: str | None, reason: str | None
                  ) -> dict[str, Any]:
    return {"state": mailbox_state, "previous_state": previous, "state_reason": reason}


def _write(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(insert(EVENT_TABLE).values(**row))


# -- ORM: mapper listeners (same connection, same transaction as the flush) ----------------------


def _message_inserted(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    _write(connection, event_row(EventType.message_created, target.tenant_id, target.mailbox_id,
                                 _message_data(target.gmail_id, target.thread_id,
                                               target.label_ids)))


def _message_updated(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    history = inspect(target).attrs.label_ids.history
    if not history.has_changes():
        return
    new = list(target.label_ids or [])
    old = list(history.deleted[0] or []) if history.deleted else None
    if old == new:
        return
    extra: dict[str, Any] = {"added_label_ids": None, "removed_label_ids": None}
    if old is not None:
        extra = {"added_label_ids": [i for i in new if i not in old],
                 "removed_label_ids": [i for i in old if i not in new]}
    _write(connection, event_row(EventType.message_updated, target.tenant_id, target.mailbox_id,
                                 _message_data(target.gmail_id, target.thread_id, new, **extra)))


def _message_deleted(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    _write(connection, event_row(EventType.message_deleted, target.tenant_id, target.mailbox_id,
                                 _message_data(target.gmail_id, target.thread_id,
                                               target.label_ids)))


def _mailbox_inserted(_mapper: Mapper[Any], connection: Connection, target: Mailbox) -> None:
    _write(connection, event_row(EventType.mailbox_state_changed, target.tenant_id, target.id,
                                 _mailbox_data(target.state, None, target.state_reason)))


def _mailbox_updated(_mapper: Mapper[Any], connection: Connection, target: Mailbox) -> None:
    attrs = inspect(target).attrs
    history = attrs.state.history
    if history.has_changes():
        previous = history.deleted[0] if history.deleted else None
        if previous != target.state:
            _write(connection, event_row(
                EventType.mailbox_state_changed, target.tenant_id, target.id,
                _mailbox_data(target.state, previous, target.state_reason)))
    deleted = attrs.data_deleted_at.history
    if deleted.has_changes() and target.data_deleted_at is not None and not any(
            deleted.deleted):
        _write(connection, event_row(EventType.mailbox_data_deleted, target.tenant_id,
                                     target.id, {"state": target.state}))


event.listen(Message, "after_insert", _message_inserted)
event.listen(Message, "after_update", _message_updated)
event.listen(Message, "after_delete", _message_deleted)
event.listen(Mailbox, "after_insert", _mailbox_inserted)
event.listen(Mailbox, "after_update", _mailbox_updated)


# -- Core writes: explicit calls -------------------------------------------------------------------


def message_removing(session: Session, mailbox: Mailbox, gmail_id: str) -> None:
    """Called just before a Core DELETE of one stored message: writes `message.deleted` if the
    message is there (locked, so a concurrent remover cannot make both announce it)."""
    row = session.execute(
        select(Message.thread_id, Message.label_ids)
        .where(Message.mailbox_id == mailbox.id, Message.gmail_id == gmail_id)
        .with_for_update()).first()
    if row is None:
        return
    _write(session.connection(), event_row(
        EventType.message_deleted, mailbox.tenant_id, mailbox.id,
        _message_data(gmail_id, row.thread_id, list(row.label_ids or []))))


def mailbox_state_changed(session: Session, mailbox_id: uuid.UUID, previous: str | None) -> None:
    """Called after a Core UPDATE changed a mailbox's state (in the same transaction)."""
    row = session.execute(select(Mailbox.tenant_id, Mailbox.state, Mailbox.state_reason)
                          .where(Mailbox.id == mailbox_id)).first()
    if row is None or row.state == previous:
        return
    _write(session.connection(), event_row(
        EventType.mailbox_state_changed, row.tenant_id, mailbox_id,
        _mailbox_data(row.state, previous, row.state_reason)))
