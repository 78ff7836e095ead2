"""Writing entries: what an entry holds, what it refuses to hold, and chaining at commit
(rollbacks leave no holes, concurrent writers keep every chain intact)."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from gateway.audit.canonical import content_bytes, link_hash
from gateway.audit.chain import pending_count
from gateway.audit.models import GENESIS_HASH, AuditChainHead, AuditCheckpoint, AuditEntry
from gateway.audit.operations import Operation
from gateway.audit.signing import TrustedKeys
from gateway.audit.writer import (
    LogRecord,
    OperationLog,
    OperationLogUnavailable,
    log_system_operation,
)
from gateway.kit.db import Database
from tests.audit.conftest import (
    RecordFactory,
    append_each,
    rows_by_position,
    run_verify,
    single_chain,
)


@pytest.mark.clause("pp.operation_log")
def test_an_entry_holds_the_required_fields_and_is_chained(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    rec = record(upstream_protocol="gmail-api/v1 https", device_id="dev-7",
                 detail={"grant_id": "g-1"})
    with db.transaction() as session:
        snapshot = oplog.append(session, rec)
        assert snapshot.seq is None  # chained when the transaction commits
        assert pending_count(session) == 1
    with db.transaction() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert entry.id == snapshot.id
    # the six fields the privacy policies promise
    assert entry.connection_id == "api_key:gw_test1"
    assert (entry.client_ip, entry.user_agent, entry.device_id) == ("127.0.0.1", "pytest",
                                                                    "dev-7")
    assert entry.protocol == "https/rest 1.1"
    assert entry.operation == "mail:message:read_content"
    assert entry.occurred_at is not None
    assert entry.actor_id == rec.actor_id
    # and the rest
    assert (entry.tenant_id, entry.mailbox_id) == (rec.tenant_id, rec.mailbox_id)
    assert entry.resource_ids == ["m-1"]
    assert (entry.decision, entry.reasons, entry.policy_revision) == (
        "allow", ["allow_owner"], "rev-test")
    assert entry.upstream_protocol == "gmail-api/v1 https"
    # chained: first entry of its shard, hash over the canonical content
    assert entry.seq == 1 and entry.prev_hash == GENESIS_HASH
    expected = link_hash(GENESIS_HASH, 1, entry.shard or 0, content_bytes({
        c.name: getattr(entry, c.name) for c in AuditEntry.__table__.columns}))
    assert entry.entry_hash == expected
    assert run_verify(db, trusted).ok


@pytest.mark.parametrize("detail", [{"subject": "hello"}, {"body": "x"},
                                    {"nested": {"refresh_token": "1//abc"}}])
def test_content_and_secrets_are_refused(db: Database, oplog: OperationLog,
                                         record: RecordFactory, detail: dict[str, object]
                                         ) -> None:
    with db.transaction() as session, pytest.raises(ValueError, match="never holds content"):
        oplog.append(session, record(detail=detail))


@pytest.mark.parametrize("field,value", [("operation", "read a message"),
                                         ("operation", "MAIL:READ"),
                                         ("decision", "maybe"), ("actor_id", "")])
def test_untyped_or_incomplete_entries_are_refused(db: Database, oplog: OperationLog,
                                                   record: RecordFactory, field: str,
                                                   value: str) -> None:
    with db.transaction() as session, pytest.raises(ValueError):
        oplog.append(session, record(**{field: value}))


def test_back_dating_is_refused_by_default(db: Database, record: RecordFactory) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    with db.transaction() as session, pytest.raises(ValueError, match="back-dated"):
        OperationLog().append(session, record(occurred_at=old))


def test_long_or_odd_client_values_are_cut_not_failed(db: Database, oplog: OperationLog,
                                                      record: RecordFactory,
                                                      trusted: TrustedKeys) -> None:
    rec = record(user_agent="x" * 5000, device_id="d\x00" * 200, request_id="r" * 300)
    with db.transaction() as session:
        oplog.append(session, rec)
    with db.transaction() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert len(entry.user_agent or "") == 256
    assert len(entry.device_id or "") == 128 and "\x00" not in (entry.device_id or "")
    assert len(entry.request_id) == 64
    assert run_verify(db, trusted).ok


def test_system_operations_log_as_the_system_actor(db: Database, trusted: TrustedKeys) -> None:
    mailbox = uuid.uuid4()
    with db.transaction() as session:
        log_system_operation(session, Operation.sync_incremental, job="sync-worker",
                             purpose="sync", mailbox_id=mailbox, resource_type="mailbox",
                             resource_ids=(str(mailbox),), upstream_protocol="gmail-api/v1 https",
                             detail={"history_id": "123", "messages": 4})
    with db.transaction() as session:
        entry = session.scalars(select(AuditEntry)).one()
    assert (entry.actor_kind, entry.actor_id) == ("system", "system:sync-worker")
    assert entry.operation == "sync:mailbox:incremental_sync"
    assert entry.action == "sync.mailbox.incremental_sync"
    assert entry.connection_id.startswith("job:sync-worker@")
    assert entry.device_id and entry.protocol == "internal"
    assert entry.upstream_protocol == "gmail-api/v1 https"
    assert entry.seq == 1
    assert run_verify(db, trusted).ok


def test_a_rolled_back_request_leaves_no_entry_and_no_hole(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    single_chain(db)
    append_each(db, oplog, [record()])
    with pytest.raises(RuntimeError), db.transaction() as session:
        oplog.append(session, record())
        raise RuntimeError("the handler failed")
    append_each(db, oplog, [record()])
    assert [(r.shard, r.seq) for r in rows_by_position(db)] == [(0, 1), (0, 2)]
    assert run_verify(db, trusted).ok


@pytest.mark.postgres_only  # raw rows and READ ONLY as PostgreSQL gives them
def test_several_entries_in_one_transaction_share_a_chain_in_order(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    with db.transaction() as session:
        ids = [oplog.append(session, record(request_id=f"r{i}")).id for i in range(4)]
    rows = rows_by_position(db)
    assert [r.id for r in rows] == ids
    assert len({r.shard for r in rows}) == 1 and [r.seq for r in rows] == [1, 2, 3, 4]
    assert run_verify(db, trusted).ok


@pytest.mark.postgres_only  # raw rows and READ ONLY as PostgreSQL gives them
def test_an_entry_rolled_back_by_a_savepoint_is_skipped(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    with db.transaction() as session:
        kept = oplog.append(session, record(request_id="kept"))
        nested = session.begin_nested()
        oplog.append(session, record(request_id="gone"))
        nested.rollback()
    rows = rows_by_position(db)
    assert [r.id for r in rows] == [kept.id] and rows[0].seq == 1
    assert run_verify(db, trusted).ok


def test_chain_heads_come_back_after_the_table_is_emptied(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_chain_heads"))
    append_each(db, oplog, [record(), record()])
    with db.transaction() as session:
        assert session.scalar(select(text("count(*)")).select_from(AuditChainHead)) == 8
    assert run_verify(db, trusted).ok


def test_checkpoints_are_signed_every_n_entries(db: Database, oplog: OperationLog,
                                                record: RecordFactory,
                                                trusted: TrustedKeys) -> None:
    single_chain(db)
    append_each(db, oplog, [record() for _ in range(7)])  # oplog signs every 3 entries
    with db.transaction() as session:
        seqs = sorted(session.scalars(select(AuditCheckpoint.seq)))
    assert seqs == [1, 4, 7]  # the first one right away, then every 3
    report = run_verify(db, trusted)
    assert report.ok and report.checkpoints == 3 and report.unsigned == {0: 0}


def test_concurrent_writers_keep_every_chain_intact(db: Database, oplog: OperationLog,
                                                    record: RecordFactory,
                                                    trusted: TrustedKeys) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            append_each(db, oplog, [record() for _ in range(40)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    by_shard: dict[int, list[int]] = defaultdict(list)
    for row in rows_by_position(db):
        by_shard[row.shard].append(row.seq)
    assert sum(len(s) for s in by_shard.values()) == 320
    for seqs in by_shard.values():
        assert seqs == list(range(1, len(seqs) + 1))
    report = run_verify(db, trusted)
    assert report.ok and report.entries == 320


@pytest.mark.postgres_only  # raw rows and READ ONLY as PostgreSQL gives them
def test_an_unwritable_log_raises_operation_log_unavailable(
        db: Database, oplog: OperationLog, record: RecordFactory) -> None:
    with db.transaction() as session:
        session.execute(text("SET TRANSACTION READ ONLY"))
        with pytest.raises(OperationLogUnavailable) as caught:
            oplog.append(session, record())
        assert caught.value.status == 503
        session.rollback()


def test_record_defaults_stay_compatible() -> None:
    rec = LogRecord(request_id="r", actor_kind="end_user", actor_id="a", connection_id="c",
                    protocol="p", operation="mail:mailbox:read", action="mail.mailbox.read",
                    purpose="user_facing", decision="allow", reasons=(), policy_revision="v")
    assert rec.upstream_protocol is None and rec.detail == {} and rec.resource_ids == ()
