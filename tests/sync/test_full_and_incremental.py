"""Full and incremental sync against the emulator over real HTTP (real PostgreSQL, real OPA):
complete, byte-identical, exactly once, and convergent after an expired history."""

from __future__ import annotations

import base64
import email.message

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from emulator.testing import RunningEmulator
from gateway.audit.models import AuditEntry
from gateway.kit.db import Database
from gateway.mail.models import Label
from gateway.sync.models import SyncPhase
from gateway.sync.worker import SyncWorker
from tests.google_world import GOOGLE_ALICE
from tests.support.world import TenantWorld
from tests.sync.conftest import (
    api_list_all,
    connect_seeded,
    gmail_history_id,
    in_gmail,
    stored,
    sync_state,
)


def _eml(subject: str, body: str = "hello") -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = "carol@example.org"
    msg["To"] = GOOGLE_ALICE
    msg["Subject"] = subject
    msg.set_content(body)
    msg.add_attachment(b"\x00\x01binary" * 50, maintype="application", subtype="octet-stream",
                       filename="blob.bin")
    return bytes(msg)


def test_a_seeded_mailbox_syncs_completely(gw: TestClient, emu: RunningEmulator, db: Database,
                                           tenant_a: TenantWorld, worker: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 230)
    emu.control.deliver(GOOGLE_ALICE, _eml("with an attachment"))

    assert worker.run_until_idle() == 1
    assert worker.outcomes == {"ok": 1}

    gmail = in_gmail(emu)
    assert len(gmail) == 231
    assert stored(db, mailbox_id) == gmail  # same ids, same threads, same labels
    state = sync_state(db, mailbox_id)
    assert state.phase == SyncPhase.incremental
    assert state.history_id == gmail_history_id(emu)
    assert state.full_syncs == 1 and state.messages_fetched == 231
    assert state.units_spent >= 231 * 5 and state.lease_token is None

    # Labels: every Gmail label is in the table (names sealed, not in clear).
    with db.transaction() as session:
        label_ids = set(session.scalars(select(Label.gmail_label_id).where(
            Label.mailbox_id == mailbox_id)))
    assert {"INBOX", "SENT", "UNREAD"} <= label_ids

    # Through the gateway's API: every message, and the raw bytes byte for byte.
    headers = tenant_a.crm.headers()
    listed = api_list_all(gw, headers, mailbox_id)
    assert {m["id"] for m in listed} == set(gmail)
    assert {m["thread_id"] for m in listed} == {t for t, _ in gmail.values()}
    for message in emu.control.messages(GOOGLE_ALICE, format="raw")[:25]:
        response = gw.get(f"/v1/mailboxes/{mailbox_id}/messages/{message['id']}/raw",
                          headers=headers)
        assert response.status_code == 200
        data = message["raw"]
        assert response.content == base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def test_sync_steps_are_decided_and_logged_per_batch(gw: TestClient, emu: RunningEmulator,
                                                     db: Database, tenant_a: TenantWorld,
                                                     worker: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 120)
    worker.run_until_idle()
    with db.transaction() as session:
        entries = list(session.scalars(select(AuditEntry).where(
            AuditEntry.mailbox_id == mailbox_id, AuditEntry.actor_kind == "system")))
    steps = [e.detail["step"] for e in entries]
    # 120 messages: two list pages, three batches (50, 50, 20), not one entry per message.
    assert steps.count("full_batch") == 3
    assert steps.count("full_list") == 2  # a first page of 100 ids, then pages of 500
    assert {"full_start", "full_complete", "history_list", "history_apply"} <= set(steps)
    for entry in entries:
        assert entry.action == "mail.sync" and entry.purpose == "sync"
        assert entry.decision == "allow" and entry.actor_id == "system:sync-worker"
    batches = [e for e in entries if e.detail["step"] == "full_batch"]
    assert sorted(e.detail["requested"] for e in batches) == [20, 50, 50]
    assert sum(len(e.resource_ids) for e in batches) == 120


def test_incremental_applies_adds_deletes_and_label_changes_once(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        worker: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 60)
    worker.run_until_idle()
    ids = sorted(in_gmail(emu))
    new = emu.control.deliver(GOOGLE_ALICE, _eml("new mail"))
    _modify(emu, ids[0], add=["STARRED"], remove=["INBOX"])
    _delete(emu, ids[1])
    _modify(emu, ids[2], add=["STARRED"])
    _modify(emu, ids[2], remove=["STARRED"])
    with db.transaction() as session:
        session.execute(_request_sync(mailbox_id))

    assert worker.run_until_idle() == 1
    assert stored(db, mailbox_id) == in_gmail(emu)
    assert new["id"] in stored(db, mailbox_id)
    state = sync_state(db, mailbox_id)
    assert state.full_syncs == 1  # no resync needed
    assert state.history_id == gmail_history_id(emu)

    # Running again changes nothing and duplicates nothing.
    with db.transaction() as session:
        session.execute(_request_sync(mailbox_id))
        before = session.scalar(select(func.count()).select_from(AuditEntry))
    worker.run_until_idle()
    assert stored(db, mailbox_id) == in_gmail(emu)
    assert sync_state(db, mailbox_id).messages_fetched == state.messages_fetched
    assert before is not None


def test_expired_history_triggers_a_resync_that_converges(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        worker: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 80)
    worker.run_until_idle()
    ids = sorted(in_gmail(emu))
    _delete(emu, ids[3])
    _modify(emu, ids[4], add=["STARRED", "IMPORTANT"])
    emu.control.deliver(GOOGLE_ALICE, _eml("arrived while history was lost"))
    emu.control.expire_history(GOOGLE_ALICE)
    with db.transaction() as session:
        session.execute(_request_sync(mailbox_id))

    assert worker.run_until_idle() == 1
    assert stored(db, mailbox_id) == in_gmail(emu)  # added, removed, relabelled; no duplicates
    state = sync_state(db, mailbox_id)
    assert state.full_syncs == 2 and state.full_reason == "history_expired"
    assert state.messages_deleted >= 1
    # Only the new message was downloaded again; the others were relabelled from metadata.
    assert state.messages_fetched == 80 + 1


def _request_sync(mailbox_id: object):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from sqlalchemy import update

    from gateway.mailboxes.models import Mailbox

    return update(Mailbox).where(Mailbox.id == mailbox_id).values(
        sync_requested_at=datetime.now(UTC))


def _gmail_user(emu: RunningEmulator):  # type: ignore[no-untyped-def]
    from google.oauth2.credentials import Credentials

    tokens = emu.control.mint_tokens(GOOGLE_ALICE, ["https://www.googleapis.com/auth/gmail.modify"])
    return emu.gmail(Credentials(tokens["access_token"])).users()


def _modify(emu: RunningEmulator, gmail_id: str, *, add: list[str] | None = None,
            remove: list[str] | None = None) -> None:
    _gmail_user(emu).messages().modify(userId="me", id=gmail_id, body={
        "addLabelIds": add or [], "removeLabelIds": remove or []}).execute()


def _delete(emu: RunningEmulator, gmail_id: str) -> None:
    # messages.delete needs the full-mailbox scope (which the gateway never asks for); the
    # user deleting mail in Gmail is simulated through the emulator's state directly.
    emu.state.users[GOOGLE_ALICE].mailbox.delete(gmail_id)
