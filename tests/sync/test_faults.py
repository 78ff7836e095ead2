"""Under injected 429s and 5xx the sync completes, and its backoff shows in the sync state (over
the API too)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.kit.timeutil import as_utc
from gateway.sync.models import MailboxSync
from gateway.sync.steps import SyncServices
from gateway.sync.worker import SyncWorker
from tests.support.world import TenantWorld
from tests.sync.conftest import connect_seeded, in_gmail, stored, sync_state


@pytest.fixture
def emulator_settings(emu: RunningEmulator) -> Iterator[RunningEmulator]:
    """Restore the emulator's quota settings afterwards (reset() keeps them)."""
    saved = emu.control.settings()
    yield emu
    emu.control.set_settings(**{k: saved[k] for k in ("quota_enabled", "quota_units_per_minute",
                                                      "quota_window_seconds")})
    emu.control.clear_faults()


def test_sync_completes_through_429s_and_5xx(gw: TestClient, emulator_settings: RunningEmulator,
                                             db: Database, tenant_a: TenantWorld,
                                             worker: SyncWorker) -> None:
    emu = emulator_settings
    mailbox_id = connect_seeded(gw, emu, tenant_a, 150)
    emu.control.set_faults(fail_next=[
        {"method": "gmail.users.messages.list", "status": 503, "count": 2},
        {"method": "gmail.users.messages.get", "status": 429, "count": 3},
        {"method": "gmail.users.messages.get", "status": 500, "count": 2},
    ], error_rate=0.03, error_status=502, seed=3)

    assert worker.run_until_idle() == 1
    assert worker.outcomes == {"ok": 1}
    assert stored(db, mailbox_id) == in_gmail(emu)
    state = sync_state(db, mailbox_id)
    # list: two retries; the batch: its failed members are retried together.
    assert state.retries >= 3 and state.rate_limited >= 1
    assert state.backoff_seconds is not None and state.backoff_seconds > 0
    assert state.last_error is not None and "upstream" in state.last_error
    assert state.consecutive_failures == 0 and state.next_attempt_at is None


def test_real_quota_429s_are_honoured(gw: TestClient, emulator_settings: RunningEmulator,
                                      db: Database, tenant_a: TenantWorld,
                                      worker: SyncWorker) -> None:
    """A quota far below the budget's idea of it: Google's 429 + Retry-After hold the budget
    back, and the sync still completes."""
    emu = emulator_settings
    mailbox_id = connect_seeded(gw, emu, tenant_a, 120)
    emu.control.set_settings(quota_units_per_minute=200, quota_window_seconds=2.0)

    assert worker.run_until_idle() == 1
    assert stored(db, mailbox_id) == in_gmail(emu)
    state = sync_state(db, mailbox_id)
    assert state.rate_limited >= 1
    assert state.last_error is not None and "429" in state.last_error


def test_persistent_failure_backs_off_visibly_then_recovers(
        gw: TestClient, emulator_settings: RunningEmulator, db: Database,
        tenant_a: TenantWorld, services: SyncServices) -> None:
    emu = emulator_settings
    settings = services.settings.model_copy(update={"sync_backoff_base_seconds": 30.0,
                                                    "sync_backoff_max_seconds": 120.0})
    worker = SyncWorker(replace(services, settings=settings), owner="backoff-test")
    mailbox_id = connect_seeded(gw, emu, tenant_a, 30)
    emu.control.set_faults(fail_next=[{"method": "gmail.users.getProfile", "status": 503,
                                       "count": 50}])
    assert worker.run_until_idle() == 1
    assert worker.outcomes == {"failed": 1}

    view = gw.get(f"/v1/mailboxes/{mailbox_id}/sync", headers=tenant_a.crm.headers())
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["consecutive_failures"] == 1 and body["running"] is False
    assert body["backoff_seconds"] > 0
    assert body_time(body["next_attempt_at"]) > datetime.now(UTC)
    assert body["last_error"].startswith("gmail_error: upstream 503")
    # Not due again before its next attempt, even when asked.
    assert gw.post(f"/v1/mailboxes/{mailbox_id}/sync",
                   headers=tenant_a.crm.headers()).status_code == 202
    assert worker.run_until_idle() == 0

    emu.control.clear_faults()
    assert as_utc(body_time(body["next_attempt_at"])) - datetime.now(UTC) > timedelta(seconds=10)
    with db.transaction() as session:  # the backoff has passed
        session.execute(update(MailboxSync).where(MailboxSync.mailbox_id == mailbox_id)
                        .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert worker.run_until_idle() == 1
    state = sync_state(db, mailbox_id)
    assert state.consecutive_failures == 0 and state.next_attempt_at is None
    assert stored(db, mailbox_id) == in_gmail(emu)


def body_time(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))
