"""The unsigned tail (entries after a chain's last signed checkpoint, rewritable without the
key) is bounded and visible: a small default window, `audit verify` reporting its size and
age, idle chains signed by the worker, and a checkpoint a reviewer can request (CLI and API),
itself logged."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway.audit.chain import CheckpointPolicy
from gateway.audit.periodic import sign_due_heads
from gateway.audit.signing import AuditSigner, write_signing_key
from gateway.audit.writer import OperationLog
from gateway.cli import main
from gateway.kit.db import Database
from gateway.kit.timeutil import utcnow
from gateway.scheduler.jobs import JOBS
from gateway.settings import Settings
from tests.audit.conftest import RecordFactory, append_each, single_chain
from tests.support.world import TenantWorld


def test_the_window_is_small_by_default() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.audit_checkpoint_every <= 100
    assert settings.audit_checkpoint_seconds <= 10


@pytest.fixture
def cli_env(db: Database, signer: AuditSigner, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
    write_signing_key(tmp_path / "keys" / "audit-signing.ed25519.pem", signer)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db.engine.url.render_as_string(False))
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "dev")


def verify_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["audit", "verify", "--json", "--jobs", "1"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_verify_reports_the_tail_and_checkpoint_now_closes_it_logged(
        db: Database, record: RecordFactory, cli_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    single_chain(db)
    unsigned = OperationLog(max_clock_skew=timedelta(hours=1))  # signs nothing
    written = utcnow() - timedelta(minutes=20)
    append_each(db, unsigned, [record(occurred_at=written) for _ in range(5)])

    tail = verify_json(capsys)["unsigned_tail"]
    assert tail["entries"] == 5 and tail["chains"] == 1
    assert tail["age_seconds"] >= 20 * 60
    capsys.readouterr()
    assert main(["audit", "verify", "--jobs", "1"]) == 0
    assert "unsigned tail: 5 entries in 1 chains" in capsys.readouterr().out

    assert main(["audit", "checkpoint", "--now"]) == 0
    assert "signed 1 checkpoint(s)" in capsys.readouterr().out
    report = verify_json(capsys)
    assert report["ok"] and report["checkpoints"] == 1
    # Only the request's own entry, logged after the checkpoint it caused, is left unsigned.
    assert report["unsigned_tail"]["entries"] == 1
    with db.engine.connect() as conn:
        logged = conn.execute(text(
            "SELECT actor_id, CAST(detail AS TEXT) FROM audit_entries "
            "WHERE operation = 'audit:checkpoint:requested'")).all()
    assert len(logged) == 1 and logged[0][0] == "system:audit-checkpoint"
    assert json.loads(logged[0][1])["signed"] == 1


def test_the_scheduler_signs_idle_chains_once_due(db: Database, signer: AuditSigner,
                                                 record: RecordFactory) -> None:
    [job] = [job for job in JOBS if job.name == "audit-checkpoint"]
    assert job.cadence_seconds <= 5  # the unsigned tail's bound is the checkpoint time plus this
    single_chain(db)
    append_each(db, OperationLog(), [record() for _ in range(3)])
    oplog = OperationLog(checkpoints=CheckpointPolicy(signer, every=100, seconds=3600))

    assert sign_due_heads(db, oplog.checkpoints) == 1  # never checkpointed: due at once
    append_each(db, OperationLog(), [record()])
    # one entry, checkpointed seconds ago: not due
    assert sign_due_heads(db, oplog.checkpoints) == 0


def test_a_reviewer_requests_a_checkpoint_through_the_api(
        audit_client: TestClient, db: Database, tenant_a: TenantWorld,
        record: RecordFactory) -> None:
    url = "/v1/audit/checkpoints"
    append_each(db, OperationLog(), [record() for _ in range(2)])  # written by a non-signer
    crm = audit_client.post(url, headers=tenant_a.crm.headers("audit_review"))
    assert crm.status_code == 403, crm.text
    done = audit_client.post(url, headers=tenant_a.reviewer.headers("audit_review"))
    assert done.status_code == 200, done.text
    assert done.json()["signed"] >= 1  # at least the chain holding the unsigned entries
    verified = audit_client.get("/v1/audit/verify",
                                headers=tenant_a.reviewer.headers("audit_review"))
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
    assert set(verified.json()["unsigned_tail"]) == {"entries", "chains", "oldest_at",
                                                     "age_seconds"}
    with db.engine.connect() as conn:
        requested = conn.execute(text(
            "SELECT CAST(detail AS TEXT) FROM audit_entries "
            "WHERE operation = 'audit:checkpoint:requested'")).scalar_one()
    assert json.loads(requested)["requested_by"] == tenant_a.reviewer.id
