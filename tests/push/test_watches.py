"""Watch upkeep against the emulator: users.watch through the enforcement point and GmailClient
(units charged), daily renewal, retry after a failure, mailboxes that must not be watched,
users.stop, forgetting disconnected mailboxes, the worker's periodic task and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from emulator.testing import RunningEmulator
from gateway.audit.models import AuditEntry
from gateway.cli import main
from gateway.kit.db import Database
from gateway.kit.timeutil import as_utc
from gateway.mailboxes.models import Mailbox
from gateway.policy.vocabulary import MailboxState
from gateway.push.models import MailboxWatch
from gateway.runtime import runtime_of
from gateway.settings import Settings
from tests.google_world import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_ALICE,
    GOOGLE_BOB,
    PUBLIC_BASE,
    connect,
)
from tests.support.world import TEST_PEPPER, TenantWorld

from .conftest import Watched, keeper_for

WEEK = timedelta(days=7)


def _watch(db: Database, watched: Watched) -> MailboxWatch:
    with db.transaction() as session:
        watch = session.get(MailboxWatch, watched.mailbox_id)
        assert watch is not None
        session.expunge(watch)
        return watch


def _age(db: Database, watched: Watched, **columns: timedelta) -> None:
    """Move the watch's timestamps back, as if that much time had passed."""
    with db.transaction() as session:  # in Python: SQLite has no interval arithmetic
        watch = session.get(MailboxWatch, watched.mailbox_id)
        assert watch is not None
        for name, delta in columns.items():
            setattr(watch, name, getattr(watch, name) - delta)


def test_a_watch_is_created_through_gmail_and_stored(
        emu: RunningEmulator, oauth_app: FastAPI, db: Database,
        connect_and_watch: Callable[..., Watched], tenant_a: TenantWorld) -> None:
    before = datetime.now(UTC)
    watched = connect_and_watch(tenant_a)
    at_google = emu.control.mailbox(GOOGLE_ALICE)["watch"]
    assert at_google["topic"] == runtime_of(oauth_app).settings.push_topic
    watch = _watch(db, watched)
    assert watch.topic == at_google["topic"]
    assert watch.expires_at is not None
    assert int(as_utc(watch.expires_at).timestamp() * 1000) == int(at_google["expiration"])
    assert as_utc(watch.expires_at) > before + WEEK - timedelta(minutes=5)
    assert watch.history_id is not None and watch.history_id > 0
    assert watch.address_index is not None and len(watch.address_index) == 16
    assert watch.last_error is None
    with db.transaction() as session:
        entries = list(session.scalars(select(AuditEntry).where(
            AuditEntry.mailbox_id == watched.mailbox_id,
            AuditEntry.actor_id == "system:push-watch")))
    decision = [e for e in entries if e.operation == "mail:sync"]
    renewed = [e for e in entries if e.operation == "sync:watch:renewed"]
    assert len(decision) == 1 and decision[0].detail["step"] == "watch"
    assert decision[0].decision == "allow" and decision[0].purpose == "sync"
    assert len(renewed) == 1 and renewed[0].upstream_protocol == "gmail-api/v1 https"
    assert renewed[0].detail["units"] == 101  # getProfile 1 + watch 100, charged by GmailClient
    assert GOOGLE_ALICE not in json.dumps([e.detail for e in entries])


def test_renewed_daily_not_on_every_run(emu: RunningEmulator, oauth_app: FastAPI,
                                        db: Database, connect_and_watch: Callable[..., Watched],
                                        tenant_a: TenantWorld) -> None:
    watched = connect_and_watch(tenant_a)
    keeper = keeper_for(oauth_app)
    first = _watch(db, watched)
    assert keeper.renew_mailbox(watched.mailbox_id).skipped == 1  # fresh: not due
    assert keeper.renew_due().renewed == 0
    _age(db, watched, renewed_at=timedelta(days=1, minutes=1))
    assert keeper.renew_due().renewed == 1
    second = _watch(db, watched)
    assert first.renewed_at is not None and second.renewed_at is not None
    assert as_utc(second.renewed_at) > as_utc(first.renewed_at)
    # Less than a day left (e.g. the worker was down for a week): renewed as well.
    _age(db, watched, expires_at=timedelta(days=6, hours=1))
    report = keeper.renew_due()
    assert report.renewed == 1 and report.units_spent == 101
    expires = _watch(db, watched).expires_at
    assert expires is not None
    assert as_utc(expires) > datetime.now(UTC) + WEEK - timedelta(minutes=5)


def test_a_failed_renewal_is_recorded_and_retried_later(
        emu: RunningEmulator, oauth_app: FastAPI, db: Database,
        connect_and_watch: Callable[..., Watched], tenant_a: TenantWorld) -> None:
    watched = connect_and_watch(tenant_a)
    keeper = keeper_for(oauth_app)
    _age(db, watched, renewed_at=timedelta(days=2))
    emu.control.set_faults(fail_next=[{"method": "gmail.users.watch", "status": 500,
                                       "count": 1}])
    report = keeper.renew_due()
    assert (report.renewed, report.failed) == (0, 1)
    assert report.errors == {"gmail_error": 1}
    failed = _watch(db, watched)
    assert failed.last_error == "gmail_error" and failed.last_error_at is not None
    assert keeper.renew_due().renewed + keeper.renew_due().failed == 0  # not hammered
    _age(db, watched, attempted_at=timedelta(hours=1, minutes=1))
    assert keeper.renew_due().renewed == 1
    assert _watch(db, watched).last_error is None


def test_mailboxes_that_cannot_be_synced_are_not_watched(
        gw: TestClient, emu: RunningEmulator, oauth_app: FastAPI, db: Database,
        tenant_a: TenantWorld) -> None:
    send_only = connect(gw, emu, tenant_a, ["send"])
    assert send_only.outcome["status"] == "connected"
    keeper = keeper_for(oauth_app)
    with db.transaction() as session:
        assert send_only.mailbox_id not in keeper.due(session, datetime.now(UTC), 100)
        session.execute(update(Mailbox).where(Mailbox.id == tenant_a.mailbox.id)
                        .values(state=MailboxState.restricted.value))
        assert tenant_a.mailbox.id not in keeper.due(session, datetime.now(UTC), 100)
    assert emu.control.mailbox(GOOGLE_ALICE)["watch"] is None


def test_stop_and_disconnect_forget_the_watch(
        gw: TestClient, emu: RunningEmulator, oauth_app: FastAPI, db: Database,
        connect_and_watch: Callable[..., Watched], tenant_a: TenantWorld,
        tenant_b: TenantWorld) -> None:
    watched = connect_and_watch(tenant_a)
    keeper = keeper_for(oauth_app)
    with db.transaction() as session:
        mailbox = session.get(Mailbox, watched.mailbox_id)
        assert mailbox is not None
        assert keeper.stop(session, mailbox) is True
        assert session.get(MailboxWatch, watched.mailbox_id) is None
    assert emu.control.mailbox(GOOGLE_ALICE)["watch"] is None

    other = connect_and_watch(tenant_b, GOOGLE_BOB)
    response = gw.delete(f"/v1/mailboxes/{other.mailbox_id}/connection",
                         headers=tenant_b.end_user.headers())
    assert response.status_code == 200, response.text
    assert emu.control.mailbox(GOOGLE_BOB)["watch"] is None  # users.stop before revoking
    with db.transaction() as session:
        assert session.get(MailboxWatch, other.mailbox_id) is None


def test_the_scheduler_renews_watches_periodically(
        gw: TestClient, emu: RunningEmulator, oauth_app: FastAPI, db: Database,
        tenant_a: TenantWorld) -> None:
    from gateway.scheduler.jobs import JOBS, JobContext
    from gateway.sync.steps import SyncServices

    [job] = [job for job in JOBS if job.name == "push-renew-watches"]
    assert job.cadence_seconds <= 3600  # a new mailbox gets its watch well within a day
    result = connect(gw, emu, tenant_a, ["read"])
    state = runtime_of(oauth_app)
    services = SyncServices.from_runtime(state)
    report = job.run(JobContext(services))
    assert report["renewed"] == 1
    assert emu.control.mailbox(GOOGLE_ALICE)["watch"] is not None
    assert _watch(db, Watched(result.mailbox_id, GOOGLE_ALICE, tenant_a)).renewed_at is not None
    # the units went to the mailbox's budget, the one its sync spends from
    assert services.budgets.for_mailbox(result.mailbox_id).in_window() == 101


def test_cli_renews_due_watches(gw: TestClient, emu: RunningEmulator, oauth_settings: Settings,
                                db: Database, tenant_a: TenantWorld,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = connect(gw, emu, tenant_a, ["read"])
    s = oauth_settings
    for name, value in {
            "ENVIRONMENT": "test", "DATABASE_URL": s.database_url, "DATA_DIR": str(s.data_dir),
            "KEY_FILE": str(s.key_file), "POLICY_ENGINE_URL": s.policy_engine_url or "",
            "POLICY_DIR": str(s.policy_dir), "API_KEY_PEPPER": TEST_PEPPER,
            "EMULATOR_URL": emu.base_url, "GOOGLE_CLIENT_ID": CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": CLIENT_SECRET, "PUBLIC_BASE_URL": PUBLIC_BASE}.items():
        monkeypatch.setenv(f"GATEWAY_{name}", value)
    assert main(["push", "renew-watches"]) == 1  # tenant_a's token-less mailbox fails
    report = json.loads(capsys.readouterr().out)
    assert report["renewed"] == 1 and report["failed"] == 1
    assert report["errors"] == {"mailbox_reauth_required": 1}
    with db.transaction() as session:
        assert session.get(MailboxWatch, result.mailbox_id) is not None
    assert emu.control.mailbox(GOOGLE_ALICE)["watch"] is not None
