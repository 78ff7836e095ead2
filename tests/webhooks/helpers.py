"""Helpers shared by the webhook tests: register an endpoint through the API, make an event,
run a delivery pass at a chosen time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.writer import OperationLog
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mail.store.repository import MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.settings import Settings
from gateway.webhooks.delivery import DeliveryReport, deliver_due
from gateway.webhooks.models import WebhookDelivery
from tests.mail.factories import make_raw
from tests.support.world import TenantWorld

SUBJECT = "Board minutes for Carol"


def register(client: TestClient, world: TenantWorld, url: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": url, **extra},
                           headers=world.crm.headers())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def store_one(db: Database, crypto: CryptoService, world: TenantWorld, gmail_id: str) -> None:
    with db.transaction() as s:
        mailbox = s.get(Mailbox, world.mailbox.id)
        assert mailbox is not None
        MessageStore(crypto).put(s, mailbox, gmail_id=gmail_id, thread_id="th-" + gmail_id,
                                 raw=make_raw(SUBJECT, "minutes"), label_ids=["INBOX"])


def deliveries(db: Database, endpoint_id: str) -> list[WebhookDelivery]:
    with db.transaction() as s:
        rows = list(s.scalars(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == uuid.UUID(endpoint_id))
            .order_by(WebhookDelivery.created_at)))
        s.expunge_all()
        return rows


def run_pass(db: Database, crypto: CryptoService, settings: Settings, oplog: OperationLog,
             now: datetime | None = None) -> DeliveryReport:
    return deliver_due(db, crypto, settings, oplog=oplog, now=now)
