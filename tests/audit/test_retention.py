"""Retention: entries older than a year go (whole months by dropping their partition), a
signed anchor stays, and what remains still verifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text

from gateway.accounts.models import Tenant
from gateway.audit.errors import RetentionTooShort
from gateway.audit.models import AuditAnchor, AuditCheckpoint, AuditEntry
from gateway.audit.partitions import (
    DEFAULT_PARTITION,
    SCHEMA,
    add_months,
    ensure_partitions,
    month_start,
    monthly_partitions,
    partition_for,
)
from gateway.audit.retention import PurgeRefused, purge
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.writer import OperationLog
from gateway.kit.db import Database
from gateway.settings import Settings
from tests.audit.conftest import RecordFactory, append_each, as_dba, run_verify, single_chain
from tests.support.world import TenantWorld

pytestmark = pytest.mark.postgres_only  # monthly partitions and their retention: PostgreSQL only

NOW = datetime.now(UTC)


def _purge(db: Database, signer: AuditSigner, trusted: TrustedKeys, *,
           now: datetime = NOW, dry_run: bool = False) -> dict[str, object]:
    with db.transaction() as session:
        report = purge(session, retention_days=365, signer=signer, trusted=trusted, now=now,
                       dry_run=dry_run)
        if dry_run:
            session.rollback()
    return report.to_dict()


def _count(db: Database, *where: object) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(*where)) or 0)  # type: ignore[arg-type]


@pytest.mark.clause("pp.operation_log")
def test_retention_below_a_year_is_refused(db: Database, signer: AuditSigner) -> None:
    with pytest.raises(ValidationError):
        Settings(audit_retention_days=364)
    with db.transaction() as session, pytest.raises(RetentionTooShort):
        purge(session, retention_days=300, signer=signer)


def test_purge_drops_old_months_and_what_remains_verifies(
        db: Database, oplog: OperationLog, record: RecordFactory, signer: AuditSigner,
        trusted: TrustedKeys) -> None:
    with db.transaction() as session:
        ensure_partitions(session, start=add_months(month_start(NOW), -15))
    ages = [460, 430, 400, 380, 366, 364, 200, 30, 0]  # days
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=d, minutes=i))
                            for i, d in enumerate(ages) for _ in range(2)])
    cutoff = NOW - timedelta(days=365)
    old = _count(db, AuditEntry.occurred_at < cutoff)
    assert old == 10

    dry = _purge(db, signer, trusted, dry_run=True)
    assert dry["removed"] == 10 and _count(db) == 18

    report = _purge(db, signer, trusted)
    assert report["removed"] == 10
    assert report["anchor_id"]
    dropped = set(report["partitions_dropped"])  # type: ignore[call-overload]
    assert partition_for(NOW - timedelta(days=460)).name in dropped
    with db.transaction() as session:
        remaining = {p.name for p in monthly_partitions(session)}
        assert not dropped & remaining
        assert partition_for(cutoff).name in remaining  # the straddling month was trimmed
        purged_log = session.scalars(select(AuditEntry).where(
            AuditEntry.operation == "audit:log:purged")).one()
    assert purged_log.actor_kind == "system" and purged_log.detail["removed"] == 10
    assert _count(db, AuditEntry.occurred_at < cutoff) == 0
    assert _count(db) == 8 + 1  # the purge's own entry

    verified = run_verify(db, trusted)
    assert verified.ok, verified.problems
    assert verified.anchors == 1

    # the log keeps going, and a second purge builds on the first anchor
    append_each(db, oplog, [record() for _ in range(5)])
    later = _purge(db, signer, trusted, now=NOW + timedelta(days=200))
    assert later["removed"] == 4  # the 364- and 200-day-old pairs
    assert run_verify(db, trusted).ok


def test_an_entry_older_than_its_predecessor_leaves_a_signed_hole(
        db: Database, oplog: OperationLog, record: RecordFactory, signer: AuditSigner,
        trusted: TrustedKeys) -> None:
    """Chain order is commit order: an old entry can follow a newer one. Purging it leaves a
    gap the anchor accounts for."""
    single_chain(db)
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=400))])   # seq 1
    with db.transaction() as session:
        oplog.append(session, record(occurred_at=NOW - timedelta(days=10)))   # seq 2: kept
        oplog.append(session, record(occurred_at=NOW - timedelta(days=370)))  # seq 3: purged
    append_each(db, oplog, [record() for _ in range(3)])                      # seq 4..6
    assert _purge(db, signer, trusted)["removed"] == 2
    with db.transaction() as session:
        anchor = session.scalars(select(AuditAnchor)).one()
    assert anchor.shards["0"]["through_seq"] == 1
    assert list(anchor.shards["0"]["holes"]) == ["3"]
    report = run_verify(db, trusted)
    assert report.ok, report.problems


def test_checkpoints_of_purged_entries_go_with_them(
        db: Database, oplog: OperationLog, record: RecordFactory, signer: AuditSigner,
        trusted: TrustedKeys) -> None:
    single_chain(db)
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=400 - i))
                            for i in range(6)])
    append_each(db, oplog, [record() for _ in range(3)])
    _purge(db, signer, trusted)
    with db.transaction() as session:
        seqs = sorted(session.scalars(select(AuditCheckpoint.seq)))
    assert seqs and min(seqs) > 6
    assert run_verify(db, trusted).ok


def test_entries_of_deleted_accounts_stay_until_they_age_out(
        db: Database, oplog: OperationLog, record: RecordFactory, signer: AuditSigner,
        trusted: TrustedKeys, tenant_a: TenantWorld) -> None:
    tenant_id, mailbox_id = tenant_a.tenant.id, tenant_a.mailbox.id
    append_each(db, oplog, [record(tenant_id=tenant_id, mailbox_id=mailbox_id,
                                   actor_id=tenant_a.end_user.id) for _ in range(3)])
    with db.transaction() as session:
        session.delete(session.get(Tenant, tenant_id))
    _purge(db, signer, trusted)
    assert _count(db, AuditEntry.mailbox_id == mailbox_id) == 3
    # ...and leave once they are older than the retention period
    _purge(db, signer, trusted, now=NOW + timedelta(days=366))
    assert _count(db, AuditEntry.mailbox_id == mailbox_id) == 0
    assert run_verify(db, trusted).ok


def test_a_tampered_anchor_is_detected_and_not_built_upon(
        db: Database, oplog: OperationLog, record: RecordFactory, signer: AuditSigner,
        trusted: TrustedKeys) -> None:
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=400)), record()])
    _purge(db, signer, trusted)
    as_dba(db, "UPDATE audit_anchors SET removed = removed + 1")
    report = run_verify(db, trusted)
    assert [p.kind for p in report.problems][:1] == ["anchor_signature_invalid"]
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=390))])
    with pytest.raises(PurgeRefused):
        _purge(db, signer, trusted)


def test_deleting_old_entries_without_an_anchor_is_detected(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    single_chain(db)
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=400)), record()])
    as_dba(db, "DELETE FROM audit_entries WHERE occurred_at < :t",
           {"t": NOW - timedelta(days=365)})
    report = run_verify(db, trusted)
    assert report.first is not None and (report.first.seq, report.first.kind) == (1, "missing")


def test_rows_caught_by_the_default_partition_move_into_their_month(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    far = add_months(month_start(NOW), -30)  # no partition exists that far back
    with db.transaction() as session:
        assert partition_for(far).name not in {p.name for p in monthly_partitions(session)}
    append_each(db, oplog, [record(occurred_at=far + timedelta(days=3, hours=i))
                            for i in range(3)])
    default = f'"{SCHEMA}"."{DEFAULT_PARTITION}"'
    with db.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {default}")).scalar() == 3
    with db.transaction() as session:
        created = ensure_partitions(session, start=far)
    assert partition_for(far).name in created
    with db.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {default}")).scalar() == 0
        moved = partition_for(far).qualified
        assert conn.execute(text(f"SELECT count(*) FROM {moved}")).scalar() == 3
    assert run_verify(db, trusted).ok


def test_partitions_are_kept_ahead(db: Database) -> None:
    with db.transaction() as session:
        ensure_partitions(session, months_ahead=5)
        names = {p.name for p in monthly_partitions(session)}
    for months in range(6):
        assert partition_for(add_months(month_start(NOW), months)).name in names


def test_an_unknown_anchor_key_is_reported(db: Database, oplog: OperationLog,
                                           record: RecordFactory, signer: AuditSigner,
                                           trusted: TrustedKeys) -> None:
    append_each(db, oplog, [record(occurred_at=NOW - timedelta(days=400)), record()])
    _purge(db, signer, trusted)
    stranger = TrustedKeys([AuditSigner.generate().private_key.public_key()])
    kinds = {p.kind for p in run_verify(db, stranger).problems}
    assert "anchor_signature_invalid" in kinds


def test_nothing_to_purge_leaves_no_anchor(db: Database, oplog: OperationLog,
                                          record: RecordFactory, signer: AuditSigner,
                                          trusted: TrustedKeys) -> None:
    append_each(db, oplog, [record()])
    report = _purge(db, signer, trusted)
    assert report["removed"] == 0 and report["anchor_id"] is None
    assert run_verify(db, trusted).anchors == 0
