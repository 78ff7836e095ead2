"""A message announces its changes in the outbox (gateway.outbox), in the transaction of the
change: insert → `message.created`, a change of `label_ids` → `message.updated`,
`session.delete` → `message.deleted`.

The ORM changes are caught by mapper listeners on `Message`, which insert the event row on the
flush's own connection; they are registered when this module is imported, and
gateway.mail.store.repository, which writes messages, imports it. Core statements bypass mapper
events: the store's bulk insert writes its `message.created` rows itself, and `MessageStore.remove`
(a Core DELETE) calls `message_removing` first. A bulk delete of a whole mailbox's messages is
announced by the mailbox (`mailbox.data_deleted`, gateway.mailboxes.events).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.orm import Mapper, Session

from gateway.mail.models import Message
from gateway.mailboxes.models import Mailbox
from gateway.outbox.models import EventType
from gateway.outbox.rows import event_row, write_event


def message_data(gmail_id: str, thread_id: str | None, label_ids: list[str] | None,
                 **extra: Any) -> dict[str, Any]:
    return {"message_id": gmail_id, "thread_id": thread_id,
            "label_ids": list(label_ids) if label_ids is not None else None, **extra}


def _message_inserted(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    write_event(connection, event_row(EventType.message_created, target.tenant_id,
                                      target.mailbox_id,
                                      message_data(target.gmail_id, target.thread_id,
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
    write_event(connection, event_row(EventType.message_updated, target.tenant_id,
                                      target.mailbox_id,
                                      message_data(target.gmail_id, target.thread_id, new,
                                                   **extra)))


def _message_deleted(_mapper: Mapper[Any], connection: Connection, target: Message) -> None:
    write_event(connection, event_row(EventType.message_deleted, target.tenant_id,
                                      target.mailbox_id,
                                      message_data(target.gmail_id, target.thread_id,
                                                   target.label_ids)))


event.listen(Message, "after_insert", _message_inserted)
event.listen(Message, "after_update", _message_updated)
event.listen(Message, "after_delete", _message_deleted)


def message_removing(session: Session, mailbox: Mailbox, gmail_id: str) -> None:
    """Called just before a Core DELETE of one stored message: writes `message.deleted` if the
    message is there (locked, so a concurrent remover cannot make both announce it)."""
    row = session.execute(
        select(Message.thread_id, Message.label_ids)
        .where(Message.mailbox_id == mailbox.id, Message.gmail_id == gmail_id)
        .with_for_update()).first()
    if row is None:
        return
    write_event(session.connection(), event_row(
        EventType.message_deleted, mailbox.tenant_id, mailbox.id,
        message_data(gmail_id, row.thread_id, list(row.label_ids or []))))
