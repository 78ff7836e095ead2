"""Workers: a worker process killed with SIGKILL mid-sync loses its lease and another resumes
from the checkpoint (complete, no duplicates); concurrent claims never hand out one mailbox
twice; a step's fence holds its lease against a takeover until the step ends; a worker whose
lease was taken over cannot commit anything more."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from emulator.testing import RunningEmulator
from gateway.crypto import Binding, CryptoService
from gateway.kit.db import Database
from gateway.mail.models import Message
from gateway.mailboxes.models import Mailbox, OAuthToken
from gateway.settings import Settings
from gateway.sync.engine import MailboxSyncRun
from gateway.sync.models import MailboxSync, SyncPhase
from gateway.sync.repository import Claim, LeaseLost, claim_next, fence
from gateway.sync.steps import SyncServices
from gateway.sync.worker import SyncWorker
from tests.support.world import TenantWorld
from tests.sync.conftest import connect_seeded, in_gmail, stored, sync_state

ROOT = Path(__file__).resolve().parents[2]


def worker_env(settings: Settings, lease: float) -> dict[str, str]:
    assert settings.api_key_pepper and settings.google_client_secret
    env = dict(os.environ)
    env.update({
        "GATEWAY_ENVIRONMENT": "test", "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_DATA_DIR": str(settings.data_dir), "GATEWAY_KEY_FILE": str(settings.key_file),
        "GATEWAY_POLICY_ENGINE_URL": settings.policy_engine_url or "",
        "GATEWAY_POLICY_DIR": str(settings.policy_dir),
        "GATEWAY_API_KEY_PEPPER": settings.api_key_pepper.get_secret_value(),
        "GATEWAY_EMULATOR_URL": settings.emulator_url or "",
        "GATEWAY_GOOGLE_CLIENT_ID": settings.google_client_id or "",
        "GATEWAY_GOOGLE_CLIENT_SECRET": settings.google_client_secret.get_secret_value(),
        "GATEWAY_PUBLIC_BASE_URL": settings.public_base_url,
        "GATEWAY_SYNC_LEASE_SECONDS": str(lease), "GATEWAY_SYNC_IDLE_SLEEP_SECONDS": "0.2",
        "GATEWAY_LOG_LEVEL": "WARNING",
    })
    return env


@pytest.fixture
def spawn(oauth_settings: Settings) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker"], cwd=ROOT,
                                env=worker_env(oauth_settings, lease=2.0),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_sync_then_another_worker_completes_it(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 700)  # two list pages
    emu.control.set_faults(latency_ms=15)  # slow enough to be killed in the middle
    try:
        first = spawn()
        wait_for(lambda: _alive(first) and _done(db, mailbox_id) >= 150, 120,
                 "the first worker's progress")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = sync_state(db, mailbox_id)
        assert killed.phase == SyncPhase.full and killed.lease_token is not None
        assert 0 < _count(db, mailbox_id) < 700

        second = spawn()
        wait_for(lambda: _alive(second) and sync_state(db, mailbox_id).last_success_at
                 is not None, 180,
                 "the second worker to finish")
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, second.stderr.read().decode() if second.stderr else ""
    finally:
        emu.control.clear_faults()

    assert stored(db, mailbox_id) == in_gmail(emu)
    assert _count(db, mailbox_id) == 700  # no duplicates
    done = sync_state(db, mailbox_id)
    assert done.full_syncs == 1 and done.full_started_at == killed.full_started_at  # resumed
    assert done.lease_owner is None and done.phase == SyncPhase.incremental
    # Whatever the killed worker had committed was not fetched again.
    assert done.messages_fetched == 700


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise AssertionError(f"the worker exited with {proc.returncode}: {err[-2000:]}")
    return True


def _done(db: Database, mailbox_id: uuid.UUID) -> int:
    with db.transaction() as session:
        row = session.get(MailboxSync, mailbox_id)
        return row.full_messages_done if row is not None else 0


def _count(db: Database, mailbox_id: uuid.UUID) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Message).where(
            Message.mailbox_id == mailbox_id)) or 0


def test_concurrent_claims_never_hand_out_a_mailbox_twice(
        db: Database, tenant_a: TenantWorld, sync_settings: Settings,
        crypto: CryptoService) -> None:
    mailbox_ids = []
    with db.transaction() as session:
        for _ in range(5):
            mailbox = Mailbox(tenant_id=tenant_a.tenant.id,
                              owner_principal_id=tenant_a.end_user.principal.id,
                              granted_scopes=[])
            session.add(mailbox)
            session.flush()
            sealed = crypto.seal_text(session, Binding.of(
                mailbox.tenant_id, mailbox.id, "oauth_tokens", "refresh_token", mailbox.id), "x")
            session.add(OAuthToken(mailbox_id=mailbox.id, tenant_id=mailbox.tenant_id,
                                   client_id="c", refresh_token=sealed, scopes=[]))
            mailbox_ids.append(mailbox.id)
    claims: list[Claim] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def claimer(n: int) -> None:
        barrier.wait()
        while (claim := claim_next(db, f"worker-{n}", sync_settings)) is not None:
            with lock:
                claims.append(claim)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(c.mailbox_id for c in claims) == sorted(mailbox_ids)  # each exactly once
    with db.transaction() as session:
        owners = {row.mailbox_id: row.lease_token for row in session.execute(
            select(MailboxSync.mailbox_id, MailboxSync.lease_token)).all()}
    assert all(owners[c.mailbox_id] == c.token for c in claims)


def test_a_worker_whose_lease_was_taken_over_cannot_commit(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        services: SyncServices, sync_settings: Settings) -> None:
    mailbox_id = connect_seeded(gw, emu, tenant_a, 120)
    first = claim_next(db, "worker-a", sync_settings)
    assert first is not None
    assert claim_next(db, "worker-b", sync_settings) is None  # leased: nobody else gets it

    # Worker A stalls (no heartbeat) past its lease; worker B takes the mailbox over.
    with db.transaction() as session:
        session.execute(update(MailboxSync).where(MailboxSync.mailbox_id == mailbox_id).values(
            lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    second = claim_next(db, "worker-b", sync_settings)
    assert second is not None and second.token != first.token

    with pytest.raises(LeaseLost):
        MailboxSyncRun(services, first).run()
    assert _count(db, mailbox_id) == 0  # A's step was rolled back
    MailboxSyncRun(services, second).run()
    assert stored(db, mailbox_id) == in_gmail(emu)
    assert SyncWorker(services).run_until_idle() == 0  # B still holds the lease


def test_a_fenced_step_holds_its_lease_against_a_takeover_until_it_ends(
        gw: TestClient, emu: RunningEmulator, db: Database, tenant_a: TenantWorld,
        sync_settings: Settings) -> None:
    """A step that wrote nothing before its fence (a page already stored), its lease just
    expired: a takeover tried while the step is open waits for it (SQLite's write lock) or skips
    the row (PostgreSQL's row lock), and then finds the lease extended by the fence."""
    connect_seeded(gw, emu, tenant_a, 1)
    first = claim_next(db, "worker-a", sync_settings)
    assert first is not None
    with db.transaction() as session:
        session.execute(update(MailboxSync).where(MailboxSync.mailbox_id == first.mailbox_id)
                        .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    rival_claims: list[Claim | None] = []
    rival = threading.Thread(
        target=lambda: rival_claims.append(claim_next(db, "worker-b", sync_settings)))
    with db.transaction() as step:
        fence(step, first, sync_settings)
        rival.start()
        rival.join(1.0)
    rival.join(30)
    assert rival_claims == [None]
    assert sync_state(db, first.mailbox_id).lease_token == first.token
