"""`MessageStore.put_many` on PostgreSQL (the ingest path sync uses): everything sealed, exactly
once under re-ingest and under a concurrent writer of the same ids, one address row per role
and address and one `message.created` event per inserted message, and the stored raw opening
to the very bytes that came in."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from emulator.clock import Clock
from emulator.mailbox import Mailbox as EmulatorMailbox
from emulator.mime import INLINE_LIMIT_DEFAULT
from emulator.seed import generate
from gateway.crypto import Binding, CryptoService, PlaintextRefused
from gateway.crypto.keyprovider import LocalFileKeyProvider
from gateway.kit.db import Database
from gateway.mail.models import Message, MessageAddress
from gateway.mail.store.insert import insert_messages
from gateway.mail.store.repository import IncomingMessage, MessageStore
from gateway.mailboxes.models import Mailbox
from gateway.mime.parse import parse_message
from gateway.outbox.models import WebhookEvent
from gateway.runtime import runtime_of
from gateway.sync.gate import SyncGate
from tests.support.world import TenantWorld


@pytest.fixture
def crypto(tmp_path: Path) -> CryptoService:
    return CryptoService(LocalFileKeyProvider(tmp_path / "kek.json", production=False))


def _items(count: int, seed: int = 4) -> list[IncomingMessage]:
    box = EmulatorMailbox("alice@example.com", Clock(), INLINE_LIMIT_DEFAULT)
    generate(box, count, seed=seed)
    return [IncomingMessage(gmail_id=m.id, thread_id=m.thread_id, raw=m.raw,
                            label_ids=m.label_list(), history_id=m.history_id)
            for m in box.messages.values()]


def _put(db: Database, store: MessageStore, mailbox_id: uuid.UUID,
         items: list[IncomingMessage]) -> int:
    with db.transaction() as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        return store.put_many(session, mailbox, items)


def _counts(db: Database, mailbox_id: uuid.UUID) -> tuple[int, int, int]:
    with db.transaction() as session:
        messages = session.scalar(select(func.count()).select_from(Message)
                                  .where(Message.mailbox_id == mailbox_id))
        addresses = session.scalar(select(func.count()).select_from(MessageAddress)
                                   .where(MessageAddress.mailbox_id == mailbox_id))
        events = session.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.mailbox_id == mailbox_id, WebhookEvent.type == "message.created"))
        return int(messages or 0), int(addresses or 0), int(events or 0)


def test_a_batch_is_stored_sealed_once_and_opens_to_the_same_bytes(
        client: TestClient, db: Database, tenant_a: TenantWorld, crypto: CryptoService) -> None:
    store = MessageStore(crypto)
    items = _items(60)
    mailbox_id = tenant_a.mailbox.id
    assert _put(db, store, mailbox_id, items[:50]) == 50
    # Re-ingest (overlapping batch, a changed label on one): only the new ten go in.
    relabelled = replace(items[0], label_ids=["INBOX", "STARRED"])
    assert _put(db, store, mailbox_id, [relabelled, *items[1:60]]) == 10
    assert _put(db, store, mailbox_id, [relabelled, *items[1:]]) == 0
    expected_addresses = sum(len({(role, address.lower()) for role, address in
                                  parse_message(i.raw).addresses()}) for i in items)
    assert _counts(db, mailbox_id) == (60, expected_addresses, 60)
    with db.transaction() as session:
        mailbox = session.get_one(Mailbox, mailbox_id)
        # Opening is user content: under the system Access of a sync step, as the worker's.
        access = SyncGate(runtime_of(client.app).enforcer).authorize(session, mailbox, "verify")
        stored = {m.gmail_id: m for m in session.scalars(
            select(Message).where(Message.mailbox_id == mailbox_id))}
        assert stored[items[0].gmail_id].label_ids == ["INBOX", "STARRED"]
        for item in items:
            message = stored[item.gmail_id]
            assert item.raw not in message.raw.blob  # sealed, not stored in clear
            raw = crypto.open_content(session, access, Binding.of(
                message.tenant_id, message.mailbox_id, "messages", "raw", message.id),
                message.raw)
            assert raw == item.raw
            assert message.thread_id == item.thread_id
            assert message.label_ids == (item.label_ids if item is not items[0]
                                         else ["INBOX", "STARRED"])


def test_a_concurrent_writer_of_the_same_ids_wins_without_duplicates(
        db: Database, tenant_a: TenantWorld, crypto: CryptoService) -> None:
    store = MessageStore(crypto)
    items = _items(8, seed=9)
    mailbox_id = tenant_a.mailbox.id
    with db.transaction() as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        sealer = crypto.sealer(session, mailbox.tenant_id, mailbox.id)
        rows = [store._sealed_row(sealer, mailbox, item, parse_message(item.raw))
                for item in items]
    # Another worker stores three of them first (its transaction commits)...
    assert _put(db, store, mailbox_id, items[2:5]) == 3
    # ...so this one's INSERT skips those three and reports only the five that went in.
    with db.transaction() as session:
        inserted = insert_messages(session, rows)
    assert inserted == {row["id"] for row in rows[:2] + rows[5:]}
    assert _counts(db, mailbox_id)[0] == 8


def test_plaintext_in_a_sealed_column_is_refused(
        db: Database, tenant_a: TenantWorld, crypto: CryptoService) -> None:
    item = _items(1)[0]
    with db.transaction() as session:
        mailbox = session.get(Mailbox, tenant_a.mailbox.id)
        assert mailbox is not None
        row: dict[str, Any] = MessageStore(crypto)._sealed_row(
            crypto.sealer(session, mailbox.tenant_id, mailbox.id), mailbox, item,
            parse_message(item.raw))
        row["raw"] = item.raw
        with pytest.raises((PlaintextRefused, StatementError)) as refused:
            insert_messages(session, [row])  # SQLAlchemy wraps it on some drivers
        assert isinstance(getattr(refused.value, "orig", refused.value), PlaintextRefused)
        session.rollback()
    assert _counts(db, tenant_a.mailbox.id)[0] == 0
