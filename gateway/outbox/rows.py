"""An event's outbox row, and writing it on the connection of the change it announces.

Payloads carry ids and non-content metadata only: never a subject, an address, a body, a label
name or a token (docs/webhooks.md).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Connection, Table, insert

from gateway.kit.timeutil import utcnow
from gateway.outbox.models import EventType, WebhookEvent

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


def write_event(connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(insert(EVENT_TABLE).values(**row))
