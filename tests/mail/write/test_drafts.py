"""Drafts through the API, kept in the emulator's Gmail: create, list, get, update, send,
delete; each decided with its own action (sending a draft is also decided as a send)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from tests.google_world import GOOGLE_ALICE, GOOGLE_BOB
from tests.mail.write_helpers import b64, connected, emulator_messages, log_entries, stored
from tests.support.world import TenantWorld


def _drafts(mailbox_id: str) -> str:
    return f"/v1/mailboxes/{mailbox_id}/drafts"


def test_draft_lifecycle(gw: TestClient, emu: RunningEmulator, db: Database,
                         tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    headers = tenant_a.crm.headers()
    created = gw.post(_drafts(mailbox_id), json={
        "to": [{"email": GOOGLE_BOB, "name": "Bob"}], "subject": "Draft v1", "text": "first",
        "attachments": [{"filename": "a.txt", "content_type": "text/plain",
                         "data": b64(b"hello")}]}, headers=headers)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert emu.control.mailbox(GOOGLE_ALICE)["drafts"]  # Gmail holds it

    listed = gw.get(_drafts(mailbox_id), headers=headers)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [draft["id"]]

    got = gw.get(f"{_drafts(mailbox_id)}/{draft['id']}", headers=headers)
    assert got.status_code == 200, got.text
    content = got.json()
    assert content["subject"] == "Draft v1" and content["text"].strip() == "first"
    assert content["to"] == [GOOGLE_BOB]
    assert [a["filename"] for a in content["attachments"]] == ["a.txt"]

    updated = gw.put(f"{_drafts(mailbox_id)}/{draft['id']}", json={
        "to": [GOOGLE_BOB], "subject": "Draft v2", "text": "second"}, headers=headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == draft["id"]
    again = gw.get(f"{_drafts(mailbox_id)}/{draft['id']}", headers=headers).json()
    assert again["subject"] == "Draft v2" and again["attachments"] == []

    sent = gw.post(f"{_drafts(mailbox_id)}/{draft['id']}/send",
                   headers={**headers, "Idempotency-Key": "draft-send-1"})
    assert sent.status_code == 200, sent.text
    assert "SENT" in sent.json()["label_ids"] and sent.json()["stored"] is True
    replay = gw.post(f"{_drafts(mailbox_id)}/{draft['id']}/send",
                     headers={**headers, "Idempotency-Key": "draft-send-1"})
    assert replay.status_code == 200 and replay.json()["idempotent_replay"] is True
    received = emulator_messages(emu, GOOGLE_BOB)
    assert len(received) == 1
    assert stored(db, mailbox_id, sent.json()["id"]) is not None
    # Decided as a draft write AND as a send; both logged.
    assert [e.decision for e in log_entries(db, "mail:message:send")] == ["allow", "allow"]
    assert {e.decision for e in log_entries(db, "mail:draft:write")} == {"allow"}
    assert len(log_entries(db, "mail:draft:read")) == 3
    # A sent draft is gone.
    assert gw.get(f"{_drafts(mailbox_id)}/{draft['id']}", headers=headers).status_code == 404

    other = gw.post(_drafts(mailbox_id), json={"subject": "no recipients yet"},
                    headers=headers)
    assert other.status_code == 201
    deleted = gw.delete(f"{_drafts(mailbox_id)}/{other.json()['id']}", headers=headers)
    assert deleted.status_code == 204
    assert gw.delete(f"{_drafts(mailbox_id)}/{other.json()['id']}",
                     headers=headers).status_code == 404
    assert not emu.control.mailbox(GOOGLE_ALICE)["drafts"]


def test_drafts_need_the_organise_permission(gw: TestClient, emu: RunningEmulator,
                                             tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a, ["read", "send"])
    headers = tenant_a.crm.headers()
    refused = gw.post(_drafts(mailbox_id), json={"subject": "x"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "scope_not_granted"
    assert refused.json()["missing_features"] == ["organise"]


def test_drafts_of_others_and_bad_ids(gw: TestClient, emu: RunningEmulator,
                                      tenant_a: TenantWorld, tenant_b: TenantWorld) -> None:
    mailbox_a = connected(gw, emu, tenant_a)
    mailbox_b = connected(gw, emu, tenant_b, email=GOOGLE_BOB)
    draft_b = gw.post(_drafts(mailbox_b), json={"subject": "Bob's"},
                      headers=tenant_b.crm.headers()).json()["id"]
    headers = tenant_a.crm.headers()
    # Bob's draft id in Alice's mailbox: unknown there.
    assert gw.get(f"{_drafts(mailbox_a)}/{draft_b}", headers=headers).status_code == 404
    assert gw.post(f"{_drafts(mailbox_a)}/{draft_b}/send",
                   headers=headers).status_code == 404
    # Bob's mailbox for tenant A's caller: not found.
    assert gw.get(_drafts(mailbox_b), headers=headers).status_code == 404
    assert gw.get(f"{_drafts(mailbox_a)}/..%2F..%2Fx", headers=headers).status_code == 404
    assert gw.get(_drafts(mailbox_a) + "?page_token=%00",
                  headers=headers).status_code == 422
    # Operators never see drafts without a grant.
    assert gw.get(_drafts(mailbox_a),
                  headers=tenant_a.operator.headers("support")).status_code == 403
