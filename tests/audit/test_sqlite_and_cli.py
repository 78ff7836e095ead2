"""The embedded SQLite default keeps working (no partitions, no trigger: the chains and
signatures still catch tampering), the `gmail-gateway audit ...` commands, windowed
verification and the signing keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from gateway.audit.models import AuditEntry
from gateway.audit.retention import purge
from gateway.audit.signing import (
    AuditSigner,
    SigningKeyUnavailable,
    TrustedKeys,
    load_signer,
    load_trusted_keys,
    rotate_signing_key,
    signing_key_path,
)
from gateway.audit.verify import verify_parallel
from gateway.audit.writer import OperationLog
from gateway.cli import main
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.settings import Environment, Settings
from tests.audit.conftest import (
    RecordFactory,
    append_each,
    as_dba,
    rows_by_position,
    run_verify,
)

NOW = datetime.now(UTC)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    database = Database.from_url(url)
    yield database  # type: ignore[misc]
    database.dispose()


def test_sqlite_writes_verifies_detects_and_purges(sqlite_db: Database, oplog: OperationLog,
                                                   record: RecordFactory, signer: AuditSigner,
                                                   trusted: TrustedKeys) -> None:
    append_each(sqlite_db, oplog, [record(occurred_at=NOW - timedelta(days=400 - i))
                                   for i in range(4)])
    append_each(sqlite_db, oplog, [record() for _ in range(6)])
    assert run_verify(sqlite_db, trusted).ok

    with sqlite_db.transaction() as session:
        report = purge(session, retention_days=365, signer=signer, trusted=trusted)
    assert report.removed == 4 and report.partitions_dropped == []
    verified = run_verify(sqlite_db, trusted)
    assert verified.ok, verified.problems

    victim = rows_by_position(sqlite_db)[-1]
    with sqlite_db.engine.begin() as conn:  # no trigger on SQLite: the chain is the guard
        conn.execute(text("UPDATE audit_entries SET purpose = 'advertising' WHERE id = :id"),
                     {"id": victim.id})
    tampered = run_verify(sqlite_db, trusted)
    assert tampered.first is not None and tampered.first.kind == "altered"
    assert (tampered.first.shard, tampered.first.seq) == (victim.shard, victim.seq)


def _env(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "test")


def test_cli_verify_reports_tampering_with_exit_code_1(
        db: Database, database_url: str, record: RecordFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, database_url, tmp_path)
    settings = Settings()
    log = OperationLog.from_settings(settings)  # signs with the key under data_dir
    append_each(db, log, [record() for _ in range(5)])
    assert main(["audit", "checkpoint", "--force"]) == 0
    assert main(["audit", "verify"]) == 0
    assert "OK: every chain verifies" in capsys.readouterr().out

    victim = rows_by_position(db)[2]
    as_dba(db, "UPDATE audit_entries SET actor_id = 'x' WHERE id = :id", {"id": victim.id})
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"shard {victim.shard} seq {victim.seq} id {victim.id}" in out
    assert main(["audit", "verify", "--json", "--jobs", "2"]) == 1
    assert '"kind": "altered"' in capsys.readouterr().out


def test_cli_purge_maintain_and_keys(db: Database, database_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, database_url, tmp_path)
    assert main(["audit", "purge", "--dry-run"]) == 0
    assert '"dry_run": true' in capsys.readouterr().out
    assert main(["audit", "purge"]) == 0
    assert main(["audit", "maintain", "--months-ahead", "2"]) == 0
    assert main(["audit", "init-signing-key"]) == 1  # the purge generated it (dev/test)
    assert main(["audit", "rotate-signing-key"]) == 0
    settings = Settings()
    assert len(load_trusted_keys(settings)) == 2  # the retired key still verifies
    with db.transaction() as session:
        rotated = session.scalars(select(AuditEntry).where(
            AuditEntry.operation == "audit:signing_key:rotated")).all()
    assert len(rotated) == 1 and sorted(rotated[0].resource_ids) == sorted(
        load_trusted_keys(settings).key_ids)
    assert main(["audit", "verify"]) == 0


def test_verify_over_a_window(db: Database, oplog: OperationLog, record: RecordFactory,
                              trusted: TrustedKeys) -> None:
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=d)) for d in (9, 5, 2)])
    append_each(db, oplog, [record() for _ in range(4)])
    window = run_verify(db, trusted, since=NOW - timedelta(days=6), until=NOW - timedelta(days=1))
    assert window.ok and 1 <= window.entries <= 3
    as_dba(db, "UPDATE audit_entries SET actor_id = 'x' WHERE occurred_at < :t",
           {"t": NOW - timedelta(days=1)})
    assert not run_verify(db, trusted, since=NOW - timedelta(days=6)).ok


def test_parallel_verification_agrees(db: Database, database_url: str, oplog: OperationLog,
                                      record: RecordFactory, trusted: TrustedKeys) -> None:
    append_each(db, oplog, [record() for _ in range(30)])
    report = verify_parallel(database_url, trusted, jobs=2)
    assert report.ok and report.entries == 30 and report.shards == 8


def test_signing_key_is_generated_in_dev_and_required_in_prod(tmp_path: Path) -> None:
    dev = Settings(environment=Environment.test, data_dir=tmp_path)
    signer = load_signer(dev)
    assert signing_key_path(dev).stat().st_mode & 0o777 == 0o600
    assert load_signer(dev).key_id == signer.key_id  # read back, not regenerated
    prod = Settings(environment=Environment.prod, data_dir=tmp_path / "elsewhere")
    with pytest.raises(SigningKeyUnavailable, match="provision"):
        load_signer(prod)
    old, new = rotate_signing_key(dev)
    assert old == signer.key_id and new != old
    assert set(load_trusted_keys(dev).key_ids) == {old, new}
