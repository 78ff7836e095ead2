"""The sync state over the API, asking for a sync, and the in-process worker and scheduler the
SQLite demo uses (here on PostgreSQL: the same code path), started and stopped with the app."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.app import create_app
from gateway.kit.db import Database
from gateway.settings import Settings
from tests.google_world import GOOGLE_ALICE
from tests.support.world import TenantWorld
from tests.sync.conftest import connect_seeded, in_gmail, stored


def test_in_process_worker_syncs_and_the_api_shows_it(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        oauth_settings: Settings) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 40)
    url = f"/v1/mailboxes/{mailbox_id}/sync"
    before = gw.get(url, headers=tenant_a.end_user.headers())
    assert before.status_code == 200
    assert before.json()["phase"] == "pending" and before.json()["counts"]["messages_stored"] == 0

    settings = oauth_settings.model_copy(update={"sync_in_process_worker": True,
                                                 "sync_idle_sleep_seconds": 0.1})
    with TestClient(create_app(settings)) as demo:
        body = _wait(demo, url, tenant_a, lambda b: b["last_success_at"] is not None)
        assert body["phase"] == "incremental" and body["counts"]["messages_stored"] == 40
        assert body["history_id"] is not None and body["quota"]["units_spent"] > 0

        # A new message and a request: the worker picks it up and clears the request.
        emu.control.deliver(GOOGLE_ALICE, b"From: x@example.org\r\nTo: alice@example.com\r\n"
                            b"Subject: hi\r\n\r\nnew\r\n")
        asked = demo.post(url, headers=tenant_a.crm.headers())
        assert asked.status_code == 202
        _wait(demo, url, tenant_a, lambda b: b["counts"]["messages_stored"] == 41
              and b["sync_requested_at"] is None)
        # The in-process worker's runs are in the API's own metrics.
        scraped = demo.get("/metrics").text
        assert 'gateway_sync_runs_total{outcome="ok"}' in scraped
        # ...and so are its scheduler's: the jobs ran at start-up (they are new to the table).
        assert 'gateway_scheduler_runs_total{job="audit-checkpoint",outcome="ok"}' in scraped
        assert 'gateway_scheduler_job_next_run_timestamp_seconds{job="audit-maintain"}' in scraped
    assert stored(db, mailbox_id) == in_gmail(emu)


def test_sync_state_is_guarded_like_the_mailbox(gw: TestClient, emu: RunningEmulator,
                                                tenant_a: TenantWorld,
                                                tenant_b: TenantWorld) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 3)
    url = f"/v1/mailboxes/{mailbox_id}/sync"
    assert gw.get(url, headers=tenant_a.other_user.headers()).status_code == 403
    assert gw.post(url, headers=tenant_a.other_user.headers()).status_code == 403
    assert gw.get(url, headers=tenant_b.crm.headers()).status_code == 404
    assert gw.get(url, headers=tenant_a.crm.headers("advertising")).status_code == 403
    missing = gw.get("/v1/mailboxes/not-a-uuid/sync", headers=tenant_a.crm.headers())
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def _wait(client: TestClient, url: str, world: TenantWorld, done, timeout: float = 60.0
          ):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url, headers=world.crm.headers())
        assert response.status_code == 200, response.text
        body = response.json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
