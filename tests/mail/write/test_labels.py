"""Labels: created, renamed and deleted in the emulator's Gmail first, then in the store, where
names are sealed; listed from the store through a decision."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from google.oauth2.credentials import Credentials
from sqlalchemy import select

from emulator.testing import RunningEmulator
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.mail.models import Label
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import SCOPE_MODIFY
from tests.google_world import GOOGLE_ALICE, GOOGLE_BOB
from tests.mail.factories import make_raw, store_message
from tests.mail.write_helpers import connected, deliver, log_entries, stored
from tests.support.world import TenantWorld


def _gmail(emu: RunningEmulator) -> Any:
    """Alice's Gmail as another app sees it (tokens minted for the emulator's default client)."""
    tokens = emu.control.mint_tokens(GOOGLE_ALICE, [SCOPE_MODIFY])
    return emu.gmail(Credentials(tokens["access_token"])).users()


def _gmail_labels(emu: RunningEmulator) -> dict[str, str]:
    listed = _gmail(emu).labels().list(userId="me").execute()
    return {label["id"]: label["name"] for label in listed["labels"]}


def test_create_rename_delete_and_list(gw: TestClient, emu: RunningEmulator, db: Database,
                                       crypto: CryptoService, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    url, headers = f"/v1/mailboxes/{mailbox_id}/labels", tenant_a.crm.headers()
    assert gw.get(url, headers=headers).json() == {"items": []}  # nothing synced yet

    created = gw.post(url, json={"name": "Clients/Acme", "label_list_visibility": "labelShow"},
                      headers=headers)
    assert created.status_code == 201, created.text
    label = created.json()
    assert label["name"] == "Clients/Acme" and label["type"] == "user"
    assert _gmail_labels(emu)[label["id"]] == "Clients/Acme"

    # Sealed at rest: the name is nowhere in the labels table in clear.
    with db.transaction() as s:
        rows = [repr(tuple(r)) for r in s.execute(select(Label.__table__)).all()]
    assert rows and not any("Acme" in row for row in rows)

    listed = gw.get(url, headers=headers)
    assert listed.status_code == 200
    assert [(i["id"], i["name"]) for i in listed.json()["items"]] == [(label["id"],
                                                                       "Clients/Acme")]

    renamed = gw.patch(f"{url}/{label['id']}", json={"name": "Clients/Acme Corp"},
                       headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Clients/Acme Corp"
    assert renamed.json()["label_list_visibility"] == "labelShow"
    assert _gmail_labels(emu)[label["id"]] == "Clients/Acme Corp"

    # Deleting removes it from Gmail, from the store, and from stored messages.
    gmail_id = deliver(emu)
    with db.transaction() as s:
        mailbox = s.get(Mailbox, uuid.UUID(mailbox_id))
    assert mailbox is not None
    store_message(db, crypto, mailbox, gmail_id, "t1", make_raw("x", "y"), labels=["INBOX"])
    modified = gw.post(f"/v1/mailboxes/{mailbox_id}/messages/{gmail_id}/modify",
                       json={"add_label_ids": [label["id"]]}, headers=headers)
    assert modified.status_code == 200
    deleted = gw.delete(f"{url}/{label['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    assert label["id"] not in _gmail_labels(emu)
    assert gw.get(url, headers=headers).json() == {"items": []}
    row_after = stored(db, mailbox_id, gmail_id)
    assert row_after is not None and row_after.label_ids == ["INBOX", "UNREAD"]
    assert len(log_entries(db, "mail:label:modify")) == 3
    assert len(log_entries(db, "mail:label:read")) == 3
    assert gw.delete(f"{url}/{label['id']}", headers=headers).status_code == 404


def test_modify_with_a_label_unknown_to_the_store_refreshes_labels_from_gmail(
        gw: TestClient, emu: RunningEmulator, db: Database, crypto: CryptoService,
        tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    # A label made in Gmail's own UI (not through the gateway).
    made = _gmail(emu).labels().create(userId="me", body={"name": "Made in Gmail"}).execute()
    gmail_id = deliver(emu)
    with db.transaction() as s:
        mailbox = s.get(Mailbox, uuid.UUID(mailbox_id))
    assert mailbox is not None
    store_message(db, crypto, mailbox, gmail_id, "t1", make_raw("x", "y"), labels=["INBOX"])
    response = gw.post(f"/v1/mailboxes/{mailbox_id}/messages/{gmail_id}/modify",
                       json={"add_label_ids": [made["id"]]}, headers=tenant_a.crm.headers())
    assert response.status_code == 200, response.text
    with db.transaction() as s:
        ids = set(s.scalars(select(Label.gmail_label_id)))
    assert {made["id"], "INBOX"} <= ids
    names = {i["id"]: i["name"] for i in gw.get(f"/v1/mailboxes/{mailbox_id}/labels",
                                                headers=tenant_a.crm.headers()).json()["items"]}
    assert names[made["id"]] == "Made in Gmail" and names["INBOX"] == "INBOX"


def test_label_input_and_conflicts(gw: TestClient, emu: RunningEmulator,
                                   tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    url, headers = f"/v1/mailboxes/{mailbox_id}/labels", tenant_a.crm.headers()
    for name in ("", " padded", "Line\nbreak", "Tab\there", "x" * 226, "Nul\x00",
                 "Sep\u2028x"):
        response = gw.post(url, json={"name": name}, headers=headers)
        assert response.status_code == 422, (name, response.text)
    assert gw.post(url, json={"name": "ok", "label_list_visibility": "sometimes"},
                   headers=headers).status_code == 422
    assert gw.post(url, json={"name": "Acme"}, headers=headers).status_code == 201
    taken = gw.post(url, json={"name": "acme"}, headers=headers)
    assert taken.status_code == 409 and taken.json()["code"] == "label_name_taken"
    system = gw.post(url, json={"name": "INBOX"}, headers=headers)
    assert system.status_code == 422
    for method in ("PATCH", "DELETE"):
        refused = gw.request(method, f"{url}/INBOX", json={"name": "Mine"}, headers=headers)
        assert refused.status_code == 422 and refused.json()["code"] == "system_label_immutable"
    assert gw.patch(f"{url}/Label_404", json={"name": "x"}, headers=headers).status_code == 404
    assert gw.patch(f"{url}/Label_404", json={}, headers=headers).status_code == 422


def test_labels_permissions_and_tenants(gw: TestClient, emu: RunningEmulator,
                                        tenant_a: TenantWorld, tenant_b: TenantWorld) -> None:
    mailbox_a = connected(gw, emu, tenant_a, ["read", "send"])
    url = f"/v1/mailboxes/{mailbox_a}/labels"
    assert gw.get(url, headers=tenant_a.crm.headers()).status_code == 200
    refused = gw.post(url, json={"name": "x"}, headers=tenant_a.crm.headers())
    assert refused.status_code == 403 and refused.json()["missing_features"] == ["labels"]
    assert gw.get(url, headers=tenant_b.crm.headers()).status_code == 404
    mailbox_b = connected(gw, emu, tenant_b, ["read", "labels"], email=GOOGLE_BOB)
    label_b = gw.post(f"/v1/mailboxes/{mailbox_b}/labels", json={"name": "Bob's"},
                      headers=tenant_b.crm.headers())
    assert label_b.status_code == 201, label_b.text
    # Bob's label through tenant A: the mailbox is not found; via A's mailbox: not A's label.
    assert gw.delete(f"/v1/mailboxes/{mailbox_b}/labels/{label_b.json()['id']}",
                     headers=tenant_a.crm.headers()).status_code == 404
    # An operator without a grant may list labels (metadata) only for support, not change them.
    assert gw.post(f"/v1/mailboxes/{mailbox_b}/labels", json={"name": "y"},
                   headers=tenant_b.operator.headers("support")).status_code == 403
