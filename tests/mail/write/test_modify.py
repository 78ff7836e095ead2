"""Organising messages: labels added and removed, read/unread, trash/untrash — in the
emulator's Gmail first, then on the stored copy."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mailboxes.models import Mailbox
from tests.google_world import GOOGLE_ALICE, GOOGLE_BOB
from tests.mail.factories import make_raw, store_message
from tests.mail.write_helpers import connected, deliver, log_entries, stored
from tests.support.world import TenantWorld


def _labels_in_gmail(emu: RunningEmulator, gmail_id: str) -> list[str]:
    for item in emu.control.messages(GOOGLE_ALICE):
        if item["id"] == gmail_id:
            return list(item.get("labelIds") or [])
    raise AssertionError(gmail_id)


def _store_copy(db: Database, crypto: CryptoService, mailbox_id: str, gmail_id: str,
                thread_id: str) -> None:
    with db.transaction() as s:
        mailbox = s.get(Mailbox, uuid.UUID(mailbox_id))
        assert mailbox is not None
    store_message(db, crypto, mailbox, gmail_id, thread_id, make_raw("Quote", "text"))


def test_modify_read_unread_trash_untrash(gw: TestClient, emu: RunningEmulator, db: Database,
                                          crypto: CryptoService, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    gmail_id = deliver(emu)
    thread_id = emu.control.messages(GOOGLE_ALICE)[0]["threadId"]
    _store_copy(db, crypto, mailbox_id, gmail_id, thread_id)
    base, headers = f"/v1/mailboxes/{mailbox_id}/messages/{gmail_id}", tenant_a.crm.headers()

    read = gw.post(f"{base}/mark-read", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["unread"] is False and read.json()["stored"] is True
    assert "UNREAD" not in _labels_in_gmail(emu, gmail_id)
    row = stored(db, mailbox_id, gmail_id)
    assert row is not None and "UNREAD" not in row.label_ids

    unread = gw.post(f"{base}/mark-unread", headers=headers)
    assert unread.status_code == 200 and unread.json()["unread"] is True
    assert "UNREAD" in _labels_in_gmail(emu, gmail_id)

    created = gw.post(f"/v1/mailboxes/{mailbox_id}/labels", json={"name": "Clients/Acme"},
                      headers=headers)
    assert created.status_code == 201, created.text
    label_id = created.json()["id"]
    modified = gw.post(f"{base}/modify", json={"add_label_ids": [label_id, "STARRED"],
                                               "remove_label_ids": ["INBOX"]}, headers=headers)
    assert modified.status_code == 200, modified.text
    assert {label_id, "STARRED"} <= set(_labels_in_gmail(emu, gmail_id))
    assert "INBOX" not in _labels_in_gmail(emu, gmail_id)
    row = stored(db, mailbox_id, gmail_id)
    assert row is not None and label_id in row.label_ids and "INBOX" not in row.label_ids

    trashed = gw.post(f"{base}/trash", headers=headers)
    assert trashed.status_code == 200 and "TRASH" in trashed.json()["label_ids"]
    assert "TRASH" in _labels_in_gmail(emu, gmail_id)
    row = stored(db, mailbox_id, gmail_id)
    assert row is not None and "TRASH" in row.label_ids
    untrashed = gw.post(f"{base}/untrash", headers=headers)
    assert untrashed.status_code == 200 and "TRASH" not in untrashed.json()["label_ids"]

    assert {e.decision for e in log_entries(db, "mail:message:modify")} == {"allow"}
    (delete_entry,) = log_entries(db, "mail:message:delete")
    assert delete_entry.resource_ids == [gmail_id]


def test_a_message_not_synced_yet_is_404_until_stored_and_never_reaches_gmail(
        gw: TestClient, emu: RunningEmulator, db: Database, crypto: CryptoService,
        tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    gmail_id = deliver(emu)
    url = f"/v1/mailboxes/{mailbox_id}/messages/{gmail_id}/mark-read"
    response = gw.post(url, headers=tenant_a.crm.headers())
    assert response.status_code == 404 and response.json()["code"] == "message_not_found"
    assert "UNREAD" in _labels_in_gmail(emu, gmail_id)
    (refused,) = log_entries(db, "mail:message:modify")
    assert (refused.decision, refused.reasons) == ("deny", ["not_found"])

    thread_id = emu.control.messages(GOOGLE_ALICE)[0]["threadId"]
    _store_copy(db, crypto, mailbox_id, gmail_id, thread_id)
    response = gw.post(url, headers=tenant_a.crm.headers())
    assert response.status_code == 200 and response.json()["stored"] is True
    assert "UNREAD" not in _labels_in_gmail(emu, gmail_id)


def test_unknown_labels_and_bad_input_are_4xx(gw: TestClient, emu: RunningEmulator,
                                              db: Database, crypto: CryptoService,
                                              tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    gmail_id = deliver(emu)
    _store_copy(db, crypto, mailbox_id, gmail_id, emu.control.messages(GOOGLE_ALICE)[0]["threadId"])
    base, headers = f"/v1/mailboxes/{mailbox_id}/messages/{gmail_id}", tenant_a.crm.headers()
    unknown = gw.post(f"{base}/modify", json={"add_label_ids": ["Label_999"]}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_label"
    assert unknown.json()["label_ids"] == ["Label_999"]
    for body in ({}, {"add_label_ids": []}, {"add_label_ids": ["A"], "remove_label_ids": ["A"]},
                 {"add_label_ids": ["bad id!"]}, {"add_label_ids": "INBOX"},
                 {"add_label_ids": ["SENT"]}):
        response = gw.post(f"{base}/modify", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
    missing = gw.post(f"/v1/mailboxes/{mailbox_id}/messages/ffff0000/trash", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "message_not_found"
    weird = gw.post(f"/v1/mailboxes/{mailbox_id}/messages/a%20b/trash", headers=headers)
    assert weird.status_code == 404


def test_modify_needs_organise_and_stays_in_the_tenant(
        gw: TestClient, emu: RunningEmulator, db: Database, crypto: CryptoService,
        tenant_a: TenantWorld, tenant_b: TenantWorld) -> None:
    mailbox_a = connected(gw, emu, tenant_a, ["read", "send"])
    gmail_id = deliver(emu)
    _store_copy(db, crypto, mailbox_a, gmail_id, emu.control.messages(GOOGLE_ALICE)[0]["threadId"])
    refused = gw.post(f"/v1/mailboxes/{mailbox_a}/messages/{gmail_id}/trash",
                      headers=tenant_a.crm.headers())
    assert refused.status_code == 403 and refused.json()["code"] == "scope_not_granted"
    assert refused.json()["missing_features"] == ["organise"]
    assert "TRASH" not in _labels_in_gmail(emu, gmail_id)

    mailbox_b = connected(gw, emu, tenant_b, email=GOOGLE_BOB)
    # Tenant B's caller on tenant A's mailbox; tenant B's mailbox with A's message id.
    assert gw.post(f"/v1/mailboxes/{mailbox_a}/messages/{gmail_id}/mark-read",
                   headers=tenant_b.crm.headers()).status_code == 404
    assert gw.post(f"/v1/mailboxes/{mailbox_b}/messages/{gmail_id}/mark-read",
                   headers=tenant_b.crm.headers()).status_code == 404
    assert "UNREAD" in _labels_in_gmail(emu, gmail_id)
