"""Sending through the real route, over the emulator: the message Gmail receives is the one the
gateway built, the store reflects it, every call is decided and logged, and bad input never
reaches Gmail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.settings import Settings
from tests.google_world import GOOGLE_ALICE, GOOGLE_BOB
from tests.mail.write_helpers import (
    b64,
    connected,
    deliver,
    emulator_messages,
    emulator_raw,
    log_entries,
    stored,
)
from tests.support.world import TenantWorld

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


def send_url(mailbox_id: str) -> str:
    return f"/v1/mailboxes/{mailbox_id}/messages/send"


def test_send_delivers_the_built_message_and_stores_the_sent_copy(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    body = {
        "to": [{"email": GOOGLE_BOB, "name": "Bob Ümlaut, Esq."}],
        "cc": ["carol@customer.example"],
        "bcc": ["dave@customer.example"],
        "subject": "Votre devis — 2026",
        "text": "Hello Bob,\n\nthe quote is attached.\n",
        "html": "<p>Hello Bob,</p><p>the quote is attached.</p>",
        "attachments": [{"filename": "quote.pdf", "content_type": "application/pdf",
                         "data": b64(PDF)}],
    }
    response = gw.post(send_url(mailbox_id), json=body, headers=tenant_a.crm.headers())
    assert response.status_code == 200, response.text
    sent = response.json()
    assert "SENT" in sent["label_ids"] and sent["stored"] is True
    assert sent["idempotent_replay"] is False

    # Bob (a user of the emulator) received exactly one copy, built as asked.
    received = emulator_messages(emu, GOOGLE_BOB)
    assert len(received) == 1
    message = emulator_raw(emu, GOOGLE_BOB, received[0]["id"])
    assert message["Subject"] == "Votre devis — 2026"
    assert message["From"] is not None and GOOGLE_ALICE in str(message["From"])
    assert message["To"].addresses[0].display_name == "Bob Ümlaut, Esq."
    assert message["To"].addresses[0].addr_spec == GOOGLE_BOB
    assert message["Cc"].addresses[0].addr_spec == "carol@customer.example"
    assert message["Message-ID"]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and "the quote is attached" in text.get_content()
    assert html is not None and "<p>Hello Bob,</p>" in html.get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "quote.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF

    # Alice's Gmail has the SENT copy (with the Bcc kept, as Gmail does); the store has it too.
    sent_copy = emulator_raw(emu, GOOGLE_ALICE, sent["id"])
    assert sent_copy["Bcc"].addresses[0].addr_spec == "dave@customer.example"
    row = stored(db, mailbox_id, sent["id"])
    assert row is not None and row.thread_id == sent["thread_id"] and "SENT" in row.label_ids
    assert row.attachment_count == 1

    # Decided as mail.message.send with the caller's purpose, and logged (ids, no content).
    (entry,) = log_entries(db, "mail:message:send")
    assert (entry.decision, entry.purpose, entry.actor_kind) == ("allow", "user_facing",
                                                                 "crm_service")
    assert str(entry.mailbox_id) == mailbox_id


def test_a_send_only_mailbox_sends_but_keeps_nothing(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a, ["send"])
    response = gw.post(send_url(mailbox_id), json={"to": [GOOGLE_BOB], "subject": "hi",
                                                   "text": "short"},
                       headers=tenant_a.end_user.headers())
    assert response.status_code == 200, response.text
    assert response.json()["stored"] is False
    assert stored(db, mailbox_id, response.json()["id"]) is None
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1


def test_reply_keeps_the_thread_and_its_headers(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    original_id = deliver(emu, subject="Quote request", sender=GOOGLE_BOB)
    original = emulator_raw(emu, GOOGLE_ALICE, original_id)
    thread_id = emu.control.messages(GOOGLE_ALICE)[0]["threadId"]

    response = gw.post(send_url(mailbox_id), json={
        "to": [GOOGLE_BOB], "subject": "Re: Quote request", "text": "Here it is.",
        "reply_to_message_id": original_id}, headers=tenant_a.crm.headers())
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["thread_id"] == thread_id
    built = emulator_raw(emu, GOOGLE_ALICE, reply["id"])
    assert built["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in built["References"]

    unknown = gw.post(send_url(mailbox_id), json={
        "to": [GOOGLE_BOB], "subject": "Re: x", "text": "x", "reply_to_message_id": "ffff0000"},
        headers=tenant_a.crm.headers())
    assert unknown.status_code == 422 and unknown.json()["code"] == "reply_to_message_not_found"


def test_reply_from_a_send_only_mailbox_is_refused_clearly(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a, ["send"])
    original_id = deliver(emu)
    response = gw.post(send_url(mailbox_id), json={
        "to": [GOOGLE_BOB], "subject": "Re: x", "text": "x",
        "reply_to_message_id": original_id}, headers=tenant_a.crm.headers())
    assert response.status_code == 422
    assert response.json()["code"] == "reply_needs_read_permission"
    assert emulator_messages(emu, GOOGLE_BOB) == []


def test_unticked_send_is_403_scope_not_granted_on_the_real_route(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    from gateway.policy.vocabulary import SCOPE_SEND

    mailbox_id = connected(gw, emu, tenant_a, ["read", "send"], untick=(SCOPE_SEND,))
    response = gw.post(send_url(mailbox_id), json={"to": [GOOGLE_BOB], "text": "x"},
                       headers=tenant_a.crm.headers())
    assert response.status_code == 403
    problem = response.json()
    assert problem["code"] == "scope_not_granted" and problem["missing_features"] == ["send"]
    assert problem["reconnect_url"].endswith(f"/v1/mailboxes/{mailbox_id}/reconnect")
    assert emulator_messages(emu, GOOGLE_BOB) == []
    (entry,) = log_entries(db, "mail:message:send")
    assert entry.decision == "deny"


def test_who_may_send(gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld,
                      tenant_b: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    body = {"to": [GOOGLE_BOB], "subject": "x", "text": "x"}
    # Another tenant's caller: the mailbox does not exist for them.
    other_tenant = gw.post(send_url(mailbox_id), json=body, headers=tenant_b.crm.headers())
    assert other_tenant.status_code == 404
    assert other_tenant.json()["code"] == "mailbox_not_found"
    assert gw.post(send_url(str(uuid.uuid4())), json=body,
                   headers=tenant_a.crm.headers()).status_code == 404
    assert gw.post(send_url("not-a-uuid"), json=body,
                   headers=tenant_a.crm.headers()).status_code == 404
    # A colleague (another end user of the tenant) does not see the mailbox at all, as on the
    # read routes.
    colleague = gw.post(send_url(mailbox_id), json=body, headers=tenant_a.other_user.headers())
    assert colleague.status_code == 404
    # An operator, a forbidden purpose, a purpose sending is not for: refused by policy.
    for headers in (tenant_a.operator.headers("support"), tenant_a.crm.headers("advertising"),
                    tenant_a.crm.headers("contact_linking")):
        refused = gw.post(send_url(mailbox_id), json=body, headers=headers)
        assert refused.status_code == 403, refused.text
    assert gw.post(send_url(mailbox_id), json=body, headers={}).status_code == 401
    assert emulator_messages(emu, GOOGLE_BOB) == []


ATTACKS = [
    {"subject": "Hello\r\nBcc: evil@attacker.example"},
    {"subject": "Hello\nBcc: evil@attacker.example"},
    {"subject": "Hello\rBcc: evil@attacker.example"},
    {"subject": "Hello\u2028Bcc: evil@attacker.example"},
    {"subject": "Hello\u0085Bcc: evil@attacker.example"},
    {"subject": "Hello\x00"},
    {"to": [{"email": "bob@example.com", "name": "Bob\r\nBcc: evil@attacker.example"}]},
    {"to": [{"email": "bob@example.com\r\nBcc: evil@attacker.example"}]},
    {"to": ["bob@example.com, evil@attacker.example"]},
    {"to": ["Bob <evil@attacker.example>"]},
    {"to": ["<evil@attacker.example>"]},
    {"to": ["evil@attacker.example (comment)"]},
    {"to": ["\"quoted\"@attacker.example"]},
    {"to": ["bob@[127.0.0.1]"]},
    {"to": ["bob"]},
    {"to": ["bob@localhost"]},
    {"to": ["bób@example.com"]},
    {"to": ["a@b@example.com"]},
    {"to": ["x" * 65 + "@example.com"]},
    {"cc": ["ok@example.com", "bad\n@example.com"]},
    {"attachments": [{"filename": "a.txt\r\nContent-Type: text/html", "data": "aGk="}]},
    {"attachments": [{"filename": "../../etc/passwd", "data": "aGk="}]},
    {"attachments": [{"filename": "a.txt", "content_type": "text/plain\r\nX-Evil: 1",
                      "data": "aGk="}]},
    {"attachments": [{"filename": "a.txt", "content_type": "multipart/mixed", "data": "aGk="}]},
    {"attachments": [{"filename": "a.txt", "data": "not base64!"}]},
    {"text": "body with NUL \x00"},
    {"to": []},
    {"from": "ceo@acme.example"},
    {"reply_to_message_id": "../../x"},
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[str(i) for i in range(len(ATTACKS))])
def test_header_injection_and_malformed_input_are_422_and_never_reach_gmail(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld,
        attack: dict[str, object]) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    body: dict[str, object] = {"to": [GOOGLE_BOB], "subject": "ok", "text": "ok"}
    body.update(attack)
    response = gw.post(send_url(mailbox_id), json=body, headers=tenant_a.crm.headers())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "evil@attacker.example" not in response.text  # values are never echoed
    assert emulator_messages(emu, GOOGLE_ALICE, "SENT") == []
    assert emulator_messages(emu, GOOGLE_BOB) == []


def test_size_limits_answer_413(gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld,
                                oauth_settings: Settings,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    monkeypatch.setattr(oauth_settings, "mail_max_attachment_bytes", 2_000)
    monkeypatch.setattr(oauth_settings, "mail_max_message_bytes", 5_000)
    url, headers = send_url(mailbox_id), tenant_a.crm.headers()

    def attach(*sizes: int) -> dict[str, object]:
        return {"to": [GOOGLE_BOB], "text": "x", "attachments": [
            {"filename": f"f{i}.bin", "data": b64(b"\x01" * n)} for i, n in enumerate(sizes)]}

    too_big = gw.post(url, json=attach(2_001), headers=headers)
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["code"] == "attachment_too_large"
    assert too_big.json()["limit_bytes"] == 2_000
    whole = gw.post(url, json=attach(1_900, 1_900, 1_900), headers=headers)
    assert whole.status_code == 413 and whole.json()["code"] == "message_too_large"
    body = gw.post(url, json={"to": [GOOGLE_BOB], "text": "y" * 6_000}, headers=headers)
    assert body.status_code == 413 and body.json()["code"] == "message_too_large"
    assert emulator_messages(emu, GOOGLE_BOB) == []
    fits = gw.post(url, json=attach(1_500), headers=headers)
    assert fits.status_code == 200, fits.text
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1


def test_gmail_errors_become_problems(gw: TestClient, emu: RunningEmulator,
                                      tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    body = {"to": [GOOGLE_BOB], "text": "x"}
    emu.control.set_faults(fail_next=[{"method": "gmail.users.messages.send", "status": 503,
                                       "count": 1}])
    failed = gw.post(send_url(mailbox_id), json=body, headers=tenant_a.crm.headers())
    assert failed.status_code == 502 and failed.json()["code"] == "gmail_error"
    emu.control.set_faults(fail_next=[{"method": "gmail.users.messages.send", "status": 429,
                                       "count": 1}])
    limited = gw.post(send_url(mailbox_id), json=body, headers=tenant_a.crm.headers())
    assert limited.status_code == 503 and limited.json()["code"] == "gmail_rate_limited"
    emu.control.clear_faults()
    assert gw.post(send_url(mailbox_id), json=body,
                   headers=tenant_a.crm.headers()).status_code == 200


def test_revoked_grant_is_403_mailbox_reauth_required(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    emu.control.revoke_user(GOOGLE_ALICE)
    # Expire the access token so the gateway must refresh (and learns of the revocation).
    emu.control.advance_clock(3700)
    response = gw.post(send_url(mailbox_id), json={"to": [GOOGLE_BOB], "text": "x"},
                       headers=tenant_a.crm.headers())
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "mailbox_reauth_required"
    assert emulator_messages(emu, GOOGLE_BOB) == []


def test_an_oversized_request_body_is_413_before_it_is_parsed(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld, oauth_settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    monkeypatch.setattr(oauth_settings, "mail_max_message_bytes", 3_000)
    limit = 3_000 * 4 // 3 + 1024 * 1024
    body = b'{"to": ["bob@example.com"], "text": "' + b"x" * (limit + 1) + b'"}'
    headers = {**tenant_a.crm.headers(), "Content-Type": "application/json"}
    declared = gw.post(send_url(mailbox_id), content=body, headers=headers)
    assert declared.status_code == 413, declared.text
    assert declared.json()["code"] == "request_too_large"
    assert declared.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    chunked = gw.post(send_url(mailbox_id), content=chunks(), headers=headers)
    assert chunked.status_code == 413 and chunked.json()["code"] == "request_too_large"
    small = gw.post(send_url(mailbox_id), content=iter([b'{"to": ["bob@example.com"], ',
                                                        b'"text": "hi"}']), headers=headers)
    assert small.status_code == 200, small.text
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1  # only the small one was sent
