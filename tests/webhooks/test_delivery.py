"""Delivery to a real HTTP receiver on 127.0.0.1: signed, deduplicable, retried with backoff,
dead after the last attempt, logged as the system actor without the payload."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.audit.writer import OperationLog
from gateway.crypto import CryptoService
from gateway.kit.db import Database
from gateway.settings import Settings
from gateway.webhooks import signing
from gateway.webhooks.delivery import claim, dispatch
from tests.support.world import TenantWorld

from .conftest import Receiver
from .helpers import SUBJECT, deliveries, register, run_pass, store_one


def test_delivered_once_signed_with_ids_only_and_logged(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    endpoint = register(client, tenant_a, receiver.url)
    secret = endpoint["secret"]
    store_one(db, app_crypto, tenant_a, "18b001")

    report = run_pass(db, app_crypto, hook_settings, oplog)
    assert (report.delivered, report.retrying, report.dead) == (1, 0, 0)
    (got,) = receiver.received
    payload = json.loads(got.body)
    assert payload["type"] == "message.created"
    assert payload["data"]["message_id"] == "18b001"
    assert got.headers[signing.EVENT_ID_HEADER] == payload["id"]
    assert got.headers[signing.EVENT_TYPE_HEADER] == "message.created"
    signature = got.headers[signing.SIGNATURE_HEADER]
    assert signing.verify(secret, got.body, signature)
    assert not signing.verify("whsec_someone-else", got.body, signature)
    assert not signing.verify(secret, got.body.replace(b"18b001", b"18b002"), signature)
    assert not signing.verify(secret, got.body, signature, now=float(
        signature.split(",")[0][2:]) + 3600)  # a replay an hour later
    assert SUBJECT.encode() not in got.body and b"carol" not in got.body.lower()

    assert run_pass(db, app_crypto, hook_settings, oplog).attempted == 0  # nothing is resent
    (delivery,) = deliveries(db, endpoint["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered", 1, 200)
    with db.transaction() as s:
        logged = list(s.scalars(select(AuditEntry).where(
            AuditEntry.operation.like("webhook:delivery:%")).order_by(AuditEntry.occurred_at)))
        assert [e.operation for e in logged] == ["webhook:delivery:attempted",
                                                 "webhook:delivery:delivered"]
        for entry in logged:
            assert entry.actor_kind == "system"
            assert entry.actor_id == "system:webhook-delivery"
            assert entry.tenant_id == tenant_a.tenant.id
            assert list(entry.resource_ids) == ["18b001"]
            assert entry.detail["event_id"] == payload["id"]
            assert "payload" not in entry.detail and SUBJECT not in json.dumps(entry.detail)


def test_failing_twice_then_delivered_on_the_third_attempt_with_backoff(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    endpoint = register(client, tenant_a, receiver.url)
    receiver.statuses = [500, 503]
    store_one(db, app_crypto, tenant_a, "18b002")

    assert run_pass(db, app_crypto, hook_settings, oplog).retrying == 1
    (first,) = deliveries(db, endpoint["id"])
    # not due yet: a pass at the time of the first attempt sends nothing
    assert run_pass(db, app_crypto, hook_settings, oplog, now=first.last_attempt_at).attempted == 0
    assert run_pass(db, app_crypto, hook_settings, oplog, now=first.next_attempt_at).retrying == 1
    (second,) = deliveries(db, endpoint["id"])
    assert second.next_attempt_at > first.next_attempt_at
    assert run_pass(db, app_crypto, hook_settings, oplog,
                    now=second.next_attempt_at).delivered == 1

    (done,) = deliveries(db, endpoint["id"])
    assert (done.status, done.attempts) == ("delivered", 3)
    log = done.attempt_log
    assert [a["status_code"] for a in log] == [500, 503, 200]
    assert [a["error"] for a in log] == ["http_status: 500", "http_status: 503", None]
    base = hook_settings.webhook_backoff_base_seconds
    assert base / 2 <= log[0]["retry_in_seconds"] <= base  # attempt 1: half to full base
    assert base <= log[1]["retry_in_seconds"] <= 2 * base  # attempt 2: doubled
    assert log[2]["retry_in_seconds"] is None
    ids = {r.headers[signing.EVENT_ID_HEADER] for r in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1  # the same event id: dedupable


def test_dead_after_the_last_attempt_then_redelivered_through_the_api(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    endpoint = register(client, tenant_a, receiver.url)
    receiver.statuses = [500] * 10
    store_one(db, app_crypto, tenant_a, "18b003")
    now = None
    for _ in range(hook_settings.webhook_max_attempts):
        run_pass(db, app_crypto, hook_settings, oplog, now=now)
        (delivery,) = deliveries(db, endpoint["id"])
        now = delivery.next_attempt_at
    assert (delivery.status, delivery.attempts) == ("dead", hook_settings.webhook_max_attempts)
    assert run_pass(db, app_crypto, hook_settings, oplog,
                    now=now + timedelta(days=1)).attempted == 0
    with db.transaction() as s:
        assert s.scalar(select(AuditEntry.operation).where(
            AuditEntry.operation == "webhook:delivery:dead")) is not None

    headers = tenant_a.crm.headers()
    listed = client.get(f"/v1/webhooks/{endpoint['id']}/deliveries?status=dead", headers=headers)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["status"] == "dead" and len(item["attempt_log"]) == 4
    assert item["payload"]["data"]["message_id"] == "18b003"
    again = client.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{item['id']}/redeliver",
                        headers=headers)
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    receiver.statuses = []
    assert run_pass(db, app_crypto, hook_settings, oplog).delivered == 1


def test_unreachable_receiver_is_a_failed_attempt(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    endpoint = register(client, tenant_a, "http://127.0.0.1:9/nothing-listens-here")
    store_one(db, app_crypto, tenant_a, "18b004")
    assert run_pass(db, app_crypto, hook_settings, oplog).retrying == 1
    (delivery,) = deliveries(db, endpoint["id"])
    assert delivery.last_status_code is None
    assert delivery.last_error is not None and delivery.last_error.startswith("connection_error")


def test_event_type_filter_and_paused_endpoints(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    states_only = register(client, tenant_a, receiver.url + "/states",
                           event_types=["mailbox.state_changed"])
    paused = register(client, tenant_a, receiver.url + "/paused", active=False)
    store_one(db, app_crypto, tenant_a, "18b005")
    run_pass(db, app_crypto, hook_settings, oplog)
    assert receiver.received == []
    assert deliveries(db, states_only["id"]) == [] and deliveries(db, paused["id"]) == []


def test_concurrent_claims_never_hand_out_the_same_delivery(
        client: TestClient, db: Database, tenant_a: TenantWorld, app_crypto: CryptoService,
        hook_settings: Settings, oplog: OperationLog, receiver: Receiver) -> None:
    """Two workers claiming at once (FOR UPDATE SKIP LOCKED + lease) split the work."""
    endpoint = register(client, tenant_a, receiver.url)
    for n in range(12):
        store_one(db, app_crypto, tenant_a, f"18c{n:03d}")
    dispatch(db)
    barrier = threading.Barrier(3)
    claimed: list[list[str]] = [[], [], []]

    def worker(slot: int) -> None:
        barrier.wait()
        for _ in range(6):
            batch = claim(db, app_crypto, hook_settings, oplog=oplog, limit=2)
            claimed[slot].extend(str(c.delivery_id) for c in batch)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    every = [d for slot in claimed for d in slot]
    assert len(every) == len(set(every)) == 12
    assert {str(d.id) for d in deliveries(db, endpoint["id"])} == set(every)
    assert claim(db, app_crypto, hook_settings, oplog=oplog) == []  # all leased
    assert receiver.received == []
