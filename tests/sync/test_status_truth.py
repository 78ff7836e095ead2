"""The sync state says what happened: retries, rate limits and 5xx are counted when they
happen — in `mailbox_sync`, over the API and in the worker's metrics — even when the step then
fails; `last_error` names the cause; an owner's sync request cuts a backoff short but not
Google's Retry-After; a worker that stops heart-beating loses its lease one lease period after
its last beat."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from emulator.testing import RunningEmulator
from gateway.kit.db import Database
from gateway.kit.timeutil import as_utc
from gateway.settings import Settings
from gateway.sync.models import MailboxSync
from gateway.sync.repository import claim_next, heartbeat
from gateway.sync.steps import SyncServices
from gateway.sync.worker import SyncWorker, build_services, heartbeat_interval
from tests.support.world import TenantWorld
from tests.sync.conftest import connect_seeded, in_gmail, stored, sync_state


@pytest.fixture
def faults(emu: RunningEmulator) -> Iterator[RunningEmulator]:
    yield emu
    emu.control.clear_faults()


def sample(services: SyncServices, name: str, **labels: str) -> float:
    value = services.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def sync_view(gw: TestClient, world: TenantWorld, mailbox_id: uuid.UUID) -> dict[str, Any]:
    response = gw.get(f"/v1/mailboxes/{mailbox_id}/sync", headers=world.crm.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_storm_that_fails_the_step_is_counted_in_the_state_and_the_metrics(
        gw: TestClient, faults: RunningEmulator, db: Database, tenant_a: TenantWorld,
        services: SyncServices, worker: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, faults, tenant_a, 10)
    # All six attempts (GATEWAY_SYNC_RETRY_ATTEMPTS) of the first call: three 503s, three 429s.
    faults.control.set_faults(fail_next=[
        {"method": "gmail.users.getProfile", "status": 503, "count": 3},
        {"method": "gmail.users.getProfile", "status": 429, "retry_after": 0, "count": 3}])

    assert worker.run_until_idle() == 1
    assert worker.outcomes == {"failed": 1}

    state = sync_state(db, mailbox_id)
    assert (state.retries, state.rate_limited, state.server_errors) == (5, 3, 3)
    assert (state.units_spent, state.gmail_calls) == (6, 6)  # spent although nothing committed
    assert state.last_error == "gmail_rate_limited: upstream 429 (rateLimitExceeded)"
    quota = sync_view(gw, tenant_a, mailbox_id)["quota"]
    assert quota == {"units_spent": 6, "gmail_calls": 6, "retries": 5, "rate_limited": 3,
                     "server_errors": 3}
    assert sample(services, "gateway_sync_gmail_retries_total", kind="server_error") == 3
    assert sample(services, "gateway_sync_gmail_retries_total", kind="rate_limited") == 2
    assert sample(services, "gateway_sync_gmail_errors_total", kind="server_error") == 3
    assert sample(services, "gateway_sync_gmail_errors_total", kind="rate_limited") == 3
    assert sample(services, "gateway_sync_runs_total", outcome="failed") == 1


def test_rate_limited_batch_members_are_each_counted_and_the_sync_completes(
        gw: TestClient, faults: RunningEmulator, db: Database, tenant_a: TenantWorld,
        services: SyncServices, worker: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, faults, tenant_a, 20)
    faults.control.set_faults(fail_next=[
        {"method": "gmail.users.messages.get", "status": 429, "retry_after": 0, "count": 20}])

    assert worker.run_until_idle() == 1
    assert worker.outcomes == {"ok": 1}
    assert stored(db, mailbox_id) == in_gmail(faults)
    state = sync_state(db, mailbox_id)
    # One batch of 20: every member answered 429, the 20 were sent again together once.
    assert (state.rate_limited, state.retries, state.server_errors) == (20, 1, 0)
    assert sample(services, "gateway_sync_gmail_errors_total", kind="rate_limited") == 20
    assert sample(services, "gateway_sync_gmail_retries_total", kind="rate_limited") == 1
    assert sample(services, "gateway_sync_runs_total", outcome="ok") == 1


def fail_once(faults: RunningEmulator, worker: SyncWorker, db: Database,
              mailbox_id: uuid.UUID, script: dict[str, object]) -> MailboxSync:
    faults.control.set_faults(fail_next=[script])
    assert worker.run_until_idle() == 1
    faults.control.clear_faults()
    state = sync_state(db, mailbox_id)
    assert state.consecutive_failures == 1 and state.next_attempt_at is not None
    return state


def last_attempt_minutes_ago(db: Database, mailbox_id: uuid.UUID) -> None:
    """Put the last attempt well past the minimum interval between requested attempts."""
    with db.transaction() as session:
        session.execute(update(MailboxSync).where(MailboxSync.mailbox_id == mailbox_id)
                        .values(last_attempt_at=datetime.now(UTC) - timedelta(minutes=5)))


@pytest.fixture
def slow_backoff(services: SyncServices) -> SyncWorker:
    settings = services.settings.model_copy(update={
        "sync_backoff_base_seconds": 600.0, "sync_backoff_max_seconds": 3600.0,
        "sync_retry_attempts": 1})
    one_attempt = build_services(settings, services.database, services.crypto,
                                 services.enforcer, services.store)
    return SyncWorker(one_attempt, owner="backoff-test")


def test_an_owner_request_cuts_a_long_backoff_short(
        gw: TestClient, faults: RunningEmulator, db: Database, tenant_a: TenantWorld,
        slow_backoff: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, faults, tenant_a, 5)
    failed = fail_once(faults, slow_backoff, db, mailbox_id,
                       {"method": "gmail.users.getProfile", "status": 503, "count": 1})
    assert as_utc(failed.next_attempt_at) > datetime.now(UTC) + timedelta(minutes=4)
    assert failed.last_error == "gmail_error: upstream 503 (backendError)"
    assert slow_backoff.run_until_idle() == 0  # backing off

    last_attempt_minutes_ago(db, mailbox_id)
    asked = gw.post(f"/v1/mailboxes/{mailbox_id}/sync", headers=tenant_a.crm.headers())
    assert asked.status_code == 202, asked.text
    assert as_utc(datetime.fromisoformat(asked.json()["next_attempt_at"])) <= datetime.now(UTC)

    assert slow_backoff.run_until_idle() == 1
    assert stored(db, mailbox_id) == in_gmail(faults)
    assert sync_state(db, mailbox_id).consecutive_failures == 0


def test_an_owner_request_never_cuts_googles_retry_after_nor_repeats_at_once(
        gw: TestClient, faults: RunningEmulator, db: Database, tenant_a: TenantWorld,
        slow_backoff: SyncWorker) -> None:
    mailbox_id = connect_seeded(gw, faults, tenant_a, 5)
    failed = fail_once(faults, slow_backoff, db, mailbox_id,
                       {"method": "gmail.users.getProfile", "status": 429, "retry_after": 7200,
                        "count": 1})
    assert failed.retry_after_until is not None
    assert as_utc(failed.next_attempt_at) >= as_utc(failed.retry_after_until)

    # Right after the failed attempt: the minimum interval keeps the backoff's end...
    asked = gw.post(f"/v1/mailboxes/{mailbox_id}/sync", headers=tenant_a.crm.headers())
    assert asked.status_code == 202
    # ...and with the last attempt long past, Google's Retry-After still holds.
    last_attempt_minutes_ago(db, mailbox_id)
    asked = gw.post(f"/v1/mailboxes/{mailbox_id}/sync", headers=tenant_a.crm.headers())
    assert asked.status_code == 202
    body = asked.json()
    assert as_utc(datetime.fromisoformat(body["next_attempt_at"])) == \
        as_utc(failed.next_attempt_at)
    assert slow_backoff.run_until_idle() == 0


def test_a_lease_not_heartbeaten_is_taken_over_one_lease_period_after_the_last_beat(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        sync_settings: Settings) -> None:
    connect_seeded(gw, emu, tenant_a, 1)
    lease = timedelta(seconds=sync_settings.sync_lease_seconds)
    start = datetime.now(UTC)
    dead = claim_next(db, "dead-worker", sync_settings, now=start)
    assert dead is not None and dead.took_over_from is None
    assert heartbeat(db, dead, sync_settings)  # its last beat, then it is killed
    beat = sync_state(db, dead.mailbox_id).heartbeat_at
    assert beat is not None
    last_beat = as_utc(beat)

    assert claim_next(db, "other", sync_settings, now=last_beat + lease * 0.9) is None
    taken = claim_next(db, "other", sync_settings, now=last_beat + lease * 1.01)
    assert taken is not None and taken.mailbox_id == dead.mailbox_id
    assert taken.took_over_from == "dead-worker"
    assert not heartbeat(db, dead, sync_settings)  # the dead worker's token is void


def test_the_heartbeat_beats_at_least_three_times_per_lease() -> None:
    settings = Settings()
    assert settings.sync_lease_seconds <= 10  # a dead worker's mailboxes wait seconds
    assert heartbeat_interval(settings) == settings.sync_heartbeat_seconds
    short = settings.model_copy(update={"sync_lease_seconds": 3.0, "sync_heartbeat_seconds": 5})
    assert heartbeat_interval(short) == 1.0
