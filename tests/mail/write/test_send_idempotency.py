"""A retried send never sends twice: the emulator receives the message exactly once, whether
the retry comes after the answer or while the first request is still with Gmail."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.mail.write.idempotency import IdempotencyRecord
from gateway.runtime import runtime_of
from tests.google_world import GOOGLE_ALICE, GOOGLE_BOB
from tests.mail.write_helpers import connected, emulator_messages, log_entries
from tests.support.world import TenantWorld

BODY = {"to": [GOOGLE_BOB], "subject": "Contract", "text": "Signed copy attached."}


def _send(gw: TestClient, mailbox_id: str, headers: dict[str, str], key: str | None,
          body: dict[str, Any] | None = None) -> Response:
    extra = {"Idempotency-Key": key} if key is not None else {}
    return gw.post(f"/v1/mailboxes/{mailbox_id}/messages/send", json=body or BODY,
                   headers={**headers, **extra})


def _fail_next_send(emu: RunningEmulator, status: int, *, after: bool = False) -> None:
    """The emulator fails the next messages.send with `status`; `after`: once it has sent
    (Gmail acted, its answer is lost)."""
    fault: dict[str, Any] = {"method": "gmail.users.messages.send", "status": status, "count": 1}
    if after:
        fault["after"] = True
    emu.control.set_faults(fail_next=[fault])


def _records(db: Database) -> list[IdempotencyRecord]:
    with db.transaction() as s:
        return list(s.scalars(select(IdempotencyRecord)))


def test_a_retry_with_the_same_key_gets_the_first_answer_and_sends_nothing(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    first = _send(gw, mailbox_id, headers, key)
    assert first.status_code == 200, first.text
    second = _send(gw, mailbox_id, headers, key)
    assert second.status_code == 200, second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["idempotent_replay"] is True
    assert {k: v for k, v in second.json().items() if k != "idempotent_replay"} == \
        {k: v for k, v in first.json().items() if k != "idempotent_replay"}
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1
    assert len(emulator_messages(emu, GOOGLE_ALICE, "SENT")) == 1
    # Both calls were decided and logged; Gmail was called once.
    assert [e.decision for e in log_entries(db, "mail:message:send")] == ["allow", "allow"]
    (record,) = _records(db)
    assert record.state == "completed" and record.response_body is not None
    # Nothing the caller wrote is kept: the key and the body are keyed hashes.
    assert key.encode() not in record.key_index and len(record.request_index) == 16
    assert "Contract" not in str(record.response_body)


def test_the_same_key_with_another_body_is_refused(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), "order-4711-confirmation"
    assert _send(gw, mailbox_id, headers, key).status_code == 200
    other = _send(gw, mailbox_id, headers, key, {**BODY, "subject": "Something else"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1


def test_keys_are_scoped_per_caller_and_mailbox(
        gw: TestClient, emu: RunningEmulator, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    key = "same-key"
    assert _send(gw, mailbox_id, tenant_a.crm.headers(), key).status_code == 200
    # The mailbox's owner using the same key is another caller: a separate send.
    again = _send(gw, mailbox_id, tenant_a.end_user.headers(), key)
    assert again.status_code == 200 and again.json()["idempotent_replay"] is False
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 2


def test_a_retry_while_the_first_is_in_flight_is_409_and_gmail_receives_one(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    emu.control.set_faults(latency_ms=1500)  # every Gmail call takes a while
    results: dict[str, Response] = {}
    first = threading.Thread(target=lambda: results.update(
        first=_send(gw, mailbox_id, headers, key)))
    first.start()
    deadline = time.monotonic() + 20
    while not _records(db) and time.monotonic() < deadline:
        time.sleep(0.02)  # wait until the first request holds the key (no timing asserted)
    assert _records(db) and _records(db)[0].state == "in_progress"
    during = _send(gw, mailbox_id, headers, key)
    first.join(30)
    emu.control.clear_faults()
    assert during.status_code == 409, during.text
    assert during.json()["code"] == "idempotency_request_in_progress"
    assert during.headers["retry-after"]
    assert results["first"].status_code == 200, results["first"].text
    after = _send(gw, mailbox_id, headers, key)
    assert after.status_code == 200 and after.json()["id"] == results["first"].json()["id"]
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1


def test_a_refused_send_releases_the_key(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    _fail_next_send(emu, 400)
    refused = _send(gw, mailbox_id, headers, key)
    assert refused.status_code == 422 and refused.json()["code"] == "gmail_rejected"
    assert _records(db) == []
    retried = _send(gw, mailbox_id, headers, key)
    assert retried.status_code == 200 and retried.json()["idempotent_replay"] is False
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1


def test_expired_and_stale_keys_are_forgotten(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    assert _send(gw, mailbox_id, headers, key).status_code == 200
    with db.transaction() as s:
        s.execute(update(IdempotencyRecord).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    later = _send(gw, mailbox_id, headers, key)
    assert later.status_code == 200 and later.json()["idempotent_replay"] is False
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 2
    # A claim left in progress by a crashed process stops blocking after a while.
    with db.transaction() as s:
        s.execute(update(IdempotencyRecord).values(
            state="in_progress", created_at=datetime.now(UTC) - timedelta(hours=1)))
    assert _send(gw, mailbox_id, headers, key).status_code == 200


def test_a_lost_answer_is_rechecked_in_gmail_and_never_sent_twice(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    # Gmail sends the message, then the answer is lost (5xx after the fact).
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    _fail_next_send(emu, 503, after=True)
    lost = _send(gw, mailbox_id, headers, key)
    assert lost.status_code in (502, 503), lost.text
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1  # it did go out
    (record,) = _records(db)
    assert record.state == "outcome_unknown"
    retried = _send(gw, mailbox_id, headers, key)
    assert retried.status_code == 200, retried.text
    assert retried.json()["idempotent_replay"] is True
    assert retried.headers["idempotent-replayed"] == "true"
    (sent,) = emulator_messages(emu, GOOGLE_ALICE, "SENT")
    assert retried.json()["id"] == sent["id"]
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1  # not sent twice
    (record,) = _records(db)
    assert record.state == "completed"
    again = _send(gw, mailbox_id, headers, key)
    assert again.status_code == 200 and again.json()["id"] == sent["id"]
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1


def test_a_failure_before_gmail_acted_is_rechecked_then_sent_once(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    # A 5xx before the send took effect: the outcome looks the same to the gateway, so the
    # retry asks Gmail, finds nothing and sends, with the Message-ID of the first attempt.
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    _fail_next_send(emu, 500)
    failed = _send(gw, mailbox_id, headers, key)
    assert failed.status_code in (502, 503), failed.text
    assert emulator_messages(emu, GOOGLE_BOB) == []
    (record,) = _records(db)
    assert record.state == "outcome_unknown"
    retried = _send(gw, mailbox_id, headers, key)
    assert retried.status_code == 200, retried.text
    assert retried.json()["idempotent_replay"] is False
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1
    raw = emu.control.messages(GOOGLE_BOB, format="raw")[0]["raw"]
    assert f"{record.id}@".encode() in base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))


def test_a_claim_left_by_a_dead_process_is_rechecked(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    first = _send(gw, mailbox_id, headers, key)
    assert first.status_code == 200
    # As if the process died after Gmail sent but before it recorded the answer.
    with db.transaction() as s:
        s.execute(update(IdempotencyRecord).values(
            state="in_progress", response_body=None,
            created_at=datetime.now(UTC) - timedelta(hours=1)))
    retried = _send(gw, mailbox_id, headers, key)
    assert retried.status_code == 200 and retried.json()["id"] == first.json()["id"]
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1


def test_malformed_keys_are_refused(gw: TestClient, emu: RunningEmulator,
                                    tenant_a: TenantWorld) -> None:
    mailbox_id = connected(gw, emu, tenant_a)
    for bad in ("", "x" * 256, "tab\there"):
        response = _send(gw, mailbox_id, tenant_a.crm.headers(), bad)
        assert response.status_code == 422, (bad, response.text)
    assert emulator_messages(emu, GOOGLE_BOB) == []


def test_a_lost_answer_on_a_send_only_mailbox_is_never_sent_again(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    # Send-only: Gmail cannot be asked whether the first attempt went out, so the retry is
    # refused (409) instead of risking a second copy, and stays refused.
    mailbox_id = connected(gw, emu, tenant_a, ["send"])
    headers, key = tenant_a.crm.headers(), str(uuid.uuid4())
    _fail_next_send(emu, 503, after=True)
    lost = _send(gw, mailbox_id, headers, key)
    assert lost.status_code in (502, 503), lost.text
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1
    for _ in range(2):
        retried = _send(gw, mailbox_id, headers, key)
        assert retried.status_code == 409, retried.text
        assert retried.json()["code"] == "send_outcome_unknown"
        assert "new Idempotency-Key" in retried.json()["detail"]
        (record,) = _records(db)
        assert record.state == "outcome_unknown"
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 1  # never twice
    fresh = _send(gw, mailbox_id, headers, str(uuid.uuid4()))  # the caller's decision
    assert fresh.status_code == 200, fresh.text
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 2


def test_the_scheduler_purges_expired_keys_and_keeps_live_ones(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld) -> None:
    from gateway.scheduler.jobs import JobContext, configured_jobs
    from gateway.scheduler.runner import Scheduler
    from gateway.sync.steps import SyncServices

    mailbox_id = connected(gw, emu, tenant_a)
    headers = tenant_a.crm.headers()
    expired, live = str(uuid.uuid4()), str(uuid.uuid4())
    assert _send(gw, mailbox_id, headers, expired).status_code == 200
    assert _send(gw, mailbox_id, headers, live).status_code == 200
    [first, second] = sorted(_records(db), key=lambda record: record.created_at)
    with db.transaction() as s:  # the first key's TTL ran out a second ago
        s.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == first.id).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    state = runtime_of(gw.app)
    services = SyncServices.from_runtime(state)
    scheduler = Scheduler(JobContext(services),
                          configured_jobs(state.settings, ["idempotency-purge"]))
    assert scheduler.run_due() == {"idempotency-purge": "ok"}
    assert [record.id for record in _records(db)] == [second.id]
    assert scheduler.run_due() == {}  # once per period: the next run is an hour away
    # The live key still answers with the first response; Gmail got two messages in all.
    replay = _send(gw, mailbox_id, headers, live)
    assert replay.status_code == 200 and replay.json()["idempotent_replay"] is True
    assert len(emulator_messages(emu, GOOGLE_BOB)) == 2
