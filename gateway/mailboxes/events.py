"""A mailbox announces its changes in the outbox (gateway.outbox), in the transaction of the
change: a new mailbox or a change of `state` → `mailbox.state_changed`, `data_deleted_at` set →
`mailbox.data_deleted` (a disconnect with data deletion: one event, not one per message).

The ORM changes are caught by mapper listeners on `Mailbox`, which insert the event row on the
flush's own connection; they are registered when this module is imported, and the modules that
change a mailbox's state (gateway.mailboxes.tokens, gateway.mailboxes.restriction) import it.
A Core UPDATE bypasses mapper events, so the reauth flip committed on its own
(`gateway.mailboxes.tokens`) calls `mailbox_state_changed` itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.orm import Mapper, Session

from gateway.mailboxes.models import Mailbox
from gateway.outbox.models import EventType
from gateway.outbox.rows import event_row, write_event


def _mailbox_data(mailbox_state: str, previous: str | None, reason: str | None
                  ) -> dict[str, Any]:
    return {"state": mailbox_state, "previous_state": previous, "state_reason": reason}


def _mailbox_inserted(_mapper: Mapper[Any], connection: Connection, target: Mailbox) -> None:
    write_event(connection, event_row(EventType.mailbox_state_changed, target.tenant_id,
                                      target.id,
                                      _mailbox_data(target.state, None, target.state_reason)))


def _mailbox_updated(_mapper: Mapper[Any], connection: Connection, target: Mailbox) -> None:
    attrs = inspect(target).attrs
    history = attrs.state.history
    if history.has_changes():
        previous = history.deleted[0] if history.deleted else None
        if previous != target.state:
            write_event(connection, event_row(
                EventType.mailbox_state_changed, target.tenant_id, target.id,
                _mailbox_data(target.state, previous, target.state_reason)))
    deleted = attrs.data_deleted_at.history
    if deleted.has_changes() and target.data_deleted_at is not None and not any(
            deleted.deleted):
        write_event(connection, event_row(EventType.mailbox_data_deleted, target.tenant_id,
                                          target.id, {"state": target.state}))


event.listen(Mailbox, "after_insert", _mailbox_inserted)
event.listen(Mailbox, "after_update", _mailbox_updated)


def mailbox_state_changed(session: Session, mailbox_id: uuid.UUID, previous: str | None) -> None:
    """Called after a Core UPDATE changed a mailbox's state (in the same transaction)."""
    row = session.execute(select(Mailbox.tenant_id, Mailbox.state, Mailbox.state_reason)
                          .where(Mailbox.id == mailbox_id)).first()
    if row is None or row.state == previous:
        return
    write_event(session.connection(), event_row(
        EventType.mailbox_state_changed, row.tenant_id, mailbox_id,
        _mailbox_data(row.state, previous, row.state_reason)))
