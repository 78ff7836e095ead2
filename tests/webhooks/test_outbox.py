"""Every emission point writes its event in the transaction of the change, with ids and metadata
only; a rolled-back change leaves no event."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mail.models import Message
from gateway.mail.store.repository import MessageStore
from gateway.mail.write.service import update_stored_labels
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.tokens import mark_reauth_required
from gateway.outbox.models import WebhookEvent
from tests.mail.factories import make_raw
from tests.support.world import TenantWorld

SUBJECT = "Quarterly numbers for Carol"
BODY_TEXT = "The secret figure is 42"


def events(db: Database, mailbox_id: uuid.UUID, kind: str | None = None) -> list[dict[str, Any]]:
    with db.transaction() as s:
        query = select(WebhookEvent).where(WebhookEvent.mailbox_id == mailbox_id)
        if kind is not None:
            query = query.where(WebhookEvent.type == kind)
        return [e.payload for e in s.scalars(query.order_by(WebhookEvent.created_at))]


def put(db: Database, crypto: CryptoService, mailbox_id: uuid.UUID, gmail_id: str,
        labels: list[str]) -> None:
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        MessageStore(crypto).put(s, mailbox, gmail_id=gmail_id, thread_id="th-" + gmail_id,
                                 raw=make_raw(SUBJECT, BODY_TEXT), label_ids=labels)


def assert_no_content(payload: dict[str, Any]) -> None:
    text = json.dumps(payload)
    for forbidden in (SUBJECT, BODY_TEXT, "carol@customer.example", "alice@tenant-a.example",
                      "Carol"):
        assert forbidden not in text


@pytest.mark.clause("lu.transfer")
def test_store_put_emits_message_created_with_ids_only(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService
) -> None:
    mailbox_id = tenant_a.mailbox.id
    put(db, app_crypto, mailbox_id, "18a001", ["INBOX", "UNREAD"])
    (created,) = events(db, mailbox_id, "message.created")
    assert created["tenant_id"] == str(tenant_a.tenant.id)
    assert created["mailbox_id"] == str(mailbox_id)
    assert created["data"] == {"message_id": "18a001", "thread_id": "th-18a001",
                               "label_ids": ["INBOX", "UNREAD"]}
    assert set(created) == {"id", "type", "occurred_at", "tenant_id", "mailbox_id", "data"}
    assert_no_content(created)


def test_label_changes_emit_message_updated_through_store_and_writes(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService
) -> None:
    mailbox_id = tenant_a.mailbox.id
    put(db, app_crypto, mailbox_id, "18a002", ["INBOX", "UNREAD"])
    put(db, app_crypto, mailbox_id, "18a002", ["INBOX", "UNREAD"])  # unchanged: no event
    assert events(db, mailbox_id, "message.updated") == []
    put(db, app_crypto, mailbox_id, "18a002", ["INBOX"])  # sync's path: store.put again
    with db.transaction() as s:  # the mail write routes' path (gateway.mail.write.service)
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        assert update_stored_labels(s, mailbox, "18a002", ["INBOX", "Label_7"])
    first, second = events(db, mailbox_id, "message.updated")
    assert first["data"] == {"message_id": "18a002", "thread_id": "th-18a002",
                             "label_ids": ["INBOX"], "added_label_ids": [],
                             "removed_label_ids": ["UNREAD"]}
    assert second["data"]["label_ids"] == ["INBOX", "Label_7"]
    assert second["data"]["added_label_ids"] == ["Label_7"]
    assert second["id"] != first["id"]


def test_remove_emits_message_deleted_once_and_nothing_for_an_unknown_id(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService
) -> None:
    mailbox_id = tenant_a.mailbox.id
    put(db, app_crypto, mailbox_id, "18a003", ["INBOX"])
    store = MessageStore(app_crypto)
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        assert store.remove(s, mailbox, "18a003")
        assert not store.remove(s, mailbox, "18a003")
        assert not store.remove(s, mailbox, "no-such-id")
    (deleted,) = events(db, mailbox_id, "message.deleted")
    assert deleted["data"] == {"message_id": "18a003", "thread_id": "th-18a003",
                               "label_ids": ["INBOX"]}


def test_orm_delete_emits_message_deleted(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService
) -> None:
    mailbox_id = tenant_a.mailbox.id
    put(db, app_crypto, mailbox_id, "18a004", ["INBOX"])
    with db.transaction() as s:
        message = s.scalar(select(Message).where(Message.gmail_id == "18a004"))
        s.delete(message)
    assert [e["data"]["message_id"] for e in events(db, mailbox_id, "message.deleted")] == [
        "18a004"]


class Boom(Exception):
    pass


def test_a_rolled_back_transaction_emits_nothing(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService
) -> None:
    mailbox_id = tenant_a.mailbox.id
    put(db, app_crypto, mailbox_id, "18a005", ["INBOX"])
    before = events(db, mailbox_id)
    store = MessageStore(app_crypto)
    with pytest.raises(Boom), db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        store.put(s, mailbox, gmail_id="18a006", thread_id="t", raw=make_raw("x", "y"),
                  label_ids=["INBOX"])
        store.put(s, mailbox, gmail_id="18a005", thread_id="t", raw=b"", label_ids=["TRASH"])
        store.remove(s, mailbox, "18a005")
        mark_reauth_required(s, mailbox, "invalid_grant")
        s.flush()
        assert len(list(s.scalars(select(WebhookEvent.id).where(
            WebhookEvent.mailbox_id == mailbox_id)))) == len(before) + 4  # written, in the tx
        raise Boom
    assert events(db, mailbox_id) == before


def test_mailbox_reauth_required_in_the_callers_transaction(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = tenant_a.mailbox.id
    with db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        mark_reauth_required(s, mailbox, "invalid_grant")
    (changed,) = events(db, mailbox_id, "mailbox.state_changed")[1:]  # [0]: the mailbox's birth
    assert changed["data"] == {"state": "reauth_required", "previous_state": "active",
                               "state_reason": "invalid_grant"}


def test_mailbox_reauth_required_committed_on_its_own(
        client: TestClient, db: Database, tenant_a: TenantWorld) -> None:
    """The Core-update path (`database=` given): the flip and its event commit together even
    though the caller's transaction rolls back."""
    mailbox_id = tenant_a.mailbox.id
    with pytest.raises(Boom), db.transaction() as s:
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        mark_reauth_required(s, mailbox, "invalid_grant", database=db)
        raise Boom
    states = [e["data"] for e in events(db, mailbox_id, "mailbox.state_changed")]
    assert states[0]["previous_state"] is None and states[0]["state"] == "active"
    assert states[1:] == [{"state": "reauth_required", "previous_state": "active",
                           "state_reason": "invalid_grant"}]
    with db.transaction() as s:  # already flipped: a second dead token says nothing new
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        mark_reauth_required(s, mailbox, "invalid_grant", database=db)
    assert len(events(db, mailbox_id, "mailbox.state_changed")) == 2


def test_disconnect_and_reconnect_emit_state_changes(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService
) -> None:
    mailbox_id = tenant_a.mailbox.id
    put(db, app_crypto, mailbox_id, "18a007", ["INBOX"])
    response = client.delete(f"/v1/mailboxes/{mailbox_id}/connection",
                             headers=tenant_a.crm.headers())
    assert response.status_code == 200, response.text
    with db.transaction() as s:  # what a reconnect's callback does to the row (ORM)
        mailbox = s.get(Mailbox, mailbox_id)
        assert mailbox is not None
        mailbox.state = "active"
        mailbox.state_reason = None
    states = [e["data"] for e in events(db, mailbox_id, "mailbox.state_changed")]
    assert states[1] == {"state": "disconnected", "previous_state": "active",
                         "state_reason": "disconnected"}
    assert states[2]["state"] == "active" and states[2]["previous_state"] == "disconnected"
    # the shredded messages are announced by one mailbox event, not one by one
    assert [e["data"] for e in events(db, mailbox_id, "mailbox.data_deleted")] == [
        {"state": "disconnected"}]
    assert events(db, mailbox_id, "message.deleted") == []
