"""The bar: a change made in the emulator reaches the gateway's API through Gmail push (the
emulator's Pub/Sub stand-in POSTs its own signed token over real HTTP to the gateway served by
uvicorn), and through fallback polling when the push is dropped.

Real parts only: PostgreSQL, the OPA server, the emulator over HTTP with Google's client
libraries, the gateway over HTTP, and the sync worker's own run-once API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.push.models import MailboxWatch
from gateway.runtime import runtime_of
from gateway.sync.models import MailboxSync
from gateway.sync.steps import SyncServices
from gateway.sync.worker import SyncWorker
from tests.google_world import GOOGLE_ALICE
from tests.support.world import TenantWorld

from .conftest import ServedGateway, Watched, sync_requested_at, wait_for


def _mail(subject: str) -> bytes:
    return (f"From: Carol <carol@example.org>\r\nTo: {GOOGLE_ALICE}\r\n"
            f"Subject: {subject}\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{abs(hash(subject))}@example.org>\r\n\r\nHello.\r\n").encode()


def _worker(app: FastAPI) -> SyncWorker:
    state = runtime_of(app)
    return SyncWorker(SyncServices.from_runtime(state), owner="push-test")


def _visible_ids(gw: TestClient, world: TenantWorld, watched: Watched) -> set[str]:
    response = gw.get(f"/v1/mailboxes/{watched.mailbox_id}/messages?limit=200",
                      headers=world.end_user.headers())
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def _synced(db: Database, watched: Watched) -> None:
    """After the initial sync nothing is pending: the push has to ask for the next one."""
    assert sync_requested_at(db, watched.mailbox_id) is None


def test_a_change_in_gmail_reaches_the_api_through_push(
        gw: TestClient, emu: RunningEmulator, oauth_app: FastAPI, db: Database,
        pushing: ServedGateway, connect_and_watch: Callable[..., Watched],
        tenant_a: TenantWorld) -> None:
    emu.control.seed(GOOGLE_ALICE, generate=5)
    watched = connect_and_watch(tenant_a)
    worker = _worker(oauth_app)
    emu.control.flush_push()  # the seed predates the watch; nothing in flight
    worker.run_until_idle()
    before = _visible_ids(gw, tenant_a, watched)
    assert len(before) == 5
    _synced(db, watched)

    pushes = len(emu.control.push_log())
    arrived = emu.control.deliver(GOOGLE_ALICE, _mail("pushed to the gateway"))

    # The emulator signs a push and POSTs it to the served gateway, which verifies it.
    assert wait_for(lambda: sync_requested_at(db, watched.mailbox_id) is not None)
    # The emulator logs a push once the gateway's answer is back, after the request is recorded.
    assert wait_for(lambda: len(emu.control.push_log()) > pushes)
    log = emu.control.push_log()
    assert log[-1]["outcome"] == "delivered" and log[-1]["status"] == 204, log
    assert arrived["id"] not in _visible_ids(gw, tenant_a, watched)  # not before the sync
    assert worker.run_until_idle() >= 1
    assert _visible_ids(gw, tenant_a, watched) == before | {arrived["id"]}
    with db.transaction() as session:
        watch = session.get(MailboxWatch, watched.mailbox_id)
        assert watch is not None and watch.pushes_received >= 1
        assert watch.last_push_history_id == int(arrived["historyId"])


def test_a_dropped_push_is_caught_up_by_polling(
        gw: TestClient, emu: RunningEmulator, oauth_app: FastAPI, db: Database,
        pushing: ServedGateway, connect_and_watch: Callable[..., Watched],
        tenant_a: TenantWorld) -> None:
    watched = connect_and_watch(tenant_a)
    worker = _worker(oauth_app)
    worker.run_until_idle()
    _synced(db, watched)

    emu.control.set_faults(drop_push_rate=1.0)
    arrived = emu.control.deliver(GOOGLE_ALICE, _mail("lost push"))
    assert emu.control.flush_push()
    assert emu.control.push_log()[-1]["outcome"] == "dropped"
    assert sync_requested_at(db, watched.mailbox_id) is None
    worker.run_until_idle()  # nothing asked for a sync, and the last one is recent
    assert arrived["id"] not in _visible_ids(gw, tenant_a, watched)

    # A quiet period as long as the poll interval passes (moved back in the sync state
    # rather than slept through): the worker polls the mailbox and finds the change.
    quiet = timedelta(seconds=runtime_of(oauth_app).settings.sync_poll_interval_seconds + 1)
    with db.transaction() as session:  # in Python: SQLite has no interval arithmetic
        state = session.get(MailboxSync, watched.mailbox_id)
        assert state is not None and state.last_success_at is not None
        state.last_success_at -= quiet
    assert worker.run_until_idle() >= 1
    assert arrived["id"] in _visible_ids(gw, tenant_a, watched)
