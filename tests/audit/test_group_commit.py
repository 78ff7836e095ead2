"""Entries committed in a transaction of their own through the group appender
(`OperationLog.append_committed`): committed when the call returns, chained like every other
entry (verify, tampering), batched when callers are concurrent, and refused (503) as a whole
batch when the log cannot be written."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from gateway.audit import group_commit
from gateway.audit.errors import OperationLogUnavailable
from gateway.audit.signing import TrustedKeys
from gateway.audit.writer import OperationLog
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from tests.audit.conftest import RecordFactory, as_dba, run_verify

pytestmark = pytest.mark.postgres_only  # the group commit runs on PostgreSQL through psycopg only


@pytest.fixture
def appender(db: Database) -> Iterator[group_commit.GroupAppender]:
    appender = group_commit.for_engine(db.engine)
    yield appender
    appender.close()  # give its connection back before the tables are truncated


def _count(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_entries")).scalar_one())


def test_an_entry_is_committed_and_chained_when_the_call_returns(
        db: Database, oplog: OperationLog, trusted: TrustedKeys, record: RecordFactory,
        appender: group_commit.GroupAppender) -> None:
    entries = [oplog.append_committed(db, record(decision="deny", reasons=("no_grant",)))
               for _ in range(7)]
    with db.engine.connect() as conn:  # another connection sees them: committed
        rows = {r.id: r for r in conn.execute(text(
            "SELECT id, shard, seq, prev_hash, entry_hash, decision, reasons::text AS reasons "
            "FROM audit_entries"))}
    assert set(rows) == {e.id for e in entries}
    for entry in entries:
        row = rows[entry.id]
        assert (row.shard, row.seq) == (entry.shard, entry.seq)
        assert row.entry_hash is not None and row.prev_hash is not None
        assert row.decision == "deny" and row.reasons == '["no_grant"]'
    report = run_verify(db, trusted)
    assert report.ok, report.problems
    assert report.entries == 7
    assert report.checkpoints >= 1  # the log signs every 3 entries per chain
    assert appender.entries == 7


def test_tampering_with_group_committed_entries_is_detected(
        db: Database, oplog: OperationLog, trusted: TrustedKeys, record: RecordFactory,
        appender: group_commit.GroupAppender) -> None:
    entries = [oplog.append_committed(db, record()) for _ in range(5)]
    victim = entries[2]
    as_dba(db, "UPDATE audit_entries SET actor_id = 'someone-else' WHERE id = :id",
           {"id": victim.id})
    report = run_verify(db, trusted)
    assert not report.ok
    assert [(p.kind, p.entry_id) for p in report.problems] == [("altered", str(victim.id))]


def test_concurrent_callers_share_one_transaction_and_each_gets_its_position(
        db: Database, oplog: OperationLog, trusted: TrustedKeys, record: RecordFactory,
        appender: group_commit.GroupAppender) -> None:
    oplog.append_committed(db, record())  # creates the chain heads
    waiting = 6
    results: dict[int, tuple[int | None, int | None]] = {}
    errors: list[BaseException] = []

    def call(n: int) -> None:
        try:
            entry = oplog.append_committed(db, record(request_id=f"req-{n}"))
            results[n] = (entry.shard, entry.seq)
        except BaseException as exc:
            errors.append(exc)

    before = appender.batches
    # Hold every chain head: the first caller's batch blocks inside audit_append, and the
    # callers that arrive meanwhile queue behind it.
    with db.engine.begin() as blocker:
        blocker.execute(text("SELECT shard FROM audit_chain_heads FOR UPDATE"))
        threads = [threading.Thread(target=call, args=(n,)) for n in range(1 + waiting)]
        threads[0].start()
        deadline = time.monotonic() + 10
        while not appender._leading and time.monotonic() < deadline:
            time.sleep(0.01)
        for thread in threads[1:]:
            thread.start()
        while len(appender._queue) < waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(appender._queue) == waiting
    for thread in threads:
        thread.join(10)
    assert not errors
    assert appender.batches - before == 2  # the blocked leader's entry, then all the others
    positions = sorted(results.values())
    assert len(set(positions)) == 1 + waiting
    second = [results[n] for n in range(1, 1 + waiting)]
    assert len({shard for shard, _ in second}) == 1  # one transaction, one chain
    assert sorted(seq for _, seq in second if seq is not None) == list(
        range(min(s for _, s in second if s is not None),
              min(s for _, s in second if s is not None) + waiting))
    assert _count(db) == 2 + waiting
    report = run_verify(db, trusted)
    assert report.ok, report.problems


@pytest.fixture
def restricted(db: Database, database_url: str) -> Iterator[tuple[Database, str]]:
    """The database as a non-superuser role whose grants a test can take away."""
    role = f"gw_log_{uuid.uuid4().hex[:10]}"
    with db.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public, audit_partitions TO "{role}"'))
        conn.execute(text(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public '
                          f'TO "{role}"'))
    url = make_url(database_url).set(username=role, password=None)
    database = Database(create_engine(url.render_as_string(hide_password=False)))
    yield database, role
    group_commit.for_engine(database.engine).close()
    database.dispose()
    with db.engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


def test_a_log_that_cannot_be_written_refuses_the_whole_batch_and_recovers(
        db: Database, oplog: OperationLog, trusted: TrustedKeys, record: RecordFactory,
        restricted: tuple[Database, str]) -> None:
    database, role = restricted
    oplog.append_committed(database, record())
    with db.engine.begin() as conn:
        conn.execute(text(f'REVOKE INSERT ON audit_entries FROM "{role}"'))
    with pytest.raises(OperationLogUnavailable):
        oplog.append_committed(database, record())
    with db.engine.begin() as conn:
        conn.execute(text(f'REVOKE UPDATE ON audit_chain_heads FROM "{role}"'))
        conn.execute(text(f'GRANT INSERT ON audit_entries TO "{role}"'))
    with pytest.raises(OperationLogUnavailable):  # the head cannot move: nothing is inserted
        oplog.append_committed(database, record())
    assert _count(db) == 1
    with db.engine.begin() as conn:
        conn.execute(text(f'GRANT UPDATE ON audit_chain_heads TO "{role}"'))
    oplog.append_committed(database, record())  # a fresh connection, the grant is back
    assert _count(db) == 2
    assert run_verify(db, trusted).ok


def test_sqlite_commits_each_entry_in_its_own_transaction(
        tmp_path: Path, oplog: OperationLog, trusted: TrustedKeys,
        record: RecordFactory) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    database = Database.from_url(url)
    try:
        entries = [oplog.append_committed(database, record()) for _ in range(4)]
        assert all(e.seq is None for e in entries)  # chained at commit, not known here
        report = run_verify(database, trusted)
        assert report.ok and report.entries == 4
    finally:
        database.dispose()


def test_text_is_stored_exactly_as_hashed(
        db: Database, oplog: OperationLog, trusted: TrustedKeys, record: RecordFactory,
        appender: group_commit.GroupAppender) -> None:
    """The batch travels as one JSON document: quotes, backslashes, non-ASCII, line separators
    and JSON-looking text must arrive as the very text the content hash covered."""
    odd = 'Mözilla/5.0 "quoted" \\back\\slash \u2028 {"not": "json"} 𝄞'
    entry = oplog.append_committed(db, record(
        user_agent=odd, device_id="\u00e9\t\n", tenant_id=None, mailbox_id=None,
        resource_ids=("id-\u00fc", 'q"uote'), detail={"grant_id": "g-\u00e9\\", "n": 1.5}))
    with db.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT user_agent, device_id, tenant_id, resource_ids::text AS ids, "
            "detail::text AS detail FROM audit_entries WHERE id = :id"), {"id": entry.id}).one()
    assert row.user_agent == odd and row.device_id == "\u00e9\t\n" and row.tenant_id is None
    assert row.ids == '["id-\\u00fc","q\\"uote"]'
    assert row.detail == '{"grant_id":"g-\\u00e9\\\\","n":1.5}'
    assert run_verify(db, trusted).ok


def test_a_lone_surrogate_cannot_fail_a_batch(
        db: Database, oplog: OperationLog, trusted: TrustedKeys, record: RecordFactory,
        appender: group_commit.GroupAppender) -> None:
    """Text PostgreSQL cannot store is replaced (U+FFFD), as NUL already was: one caller's
    odd input must not refuse the other callers' entries in its batch."""
    entry = oplog.append_committed(db, record(user_agent="a\ud800b\x00c",
                                              resource_ids=("m-\udc00",)))
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT user_agent, resource_ids::text AS ids FROM "
                                "audit_entries WHERE id = :id"), {"id": entry.id}).one()
    assert row.user_agent == "a\ufffdb\ufffdc"
    assert row.ids == '["m-\\ufffd"]'
    assert run_verify(db, trusted).ok


def test_disposing_the_engine_gives_the_appender_connection_back(
        db: Database, database_url: str, oplog: OperationLog, record: RecordFactory) -> None:
    database = Database.from_url(database_url, pool_size=2, max_overflow=0)
    oplog.append_committed(database, record())
    appender = group_commit.for_engine(database.engine)
    assert database.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    held = appender._connection
    assert held is not None
    dbapi = held.dbapi_connection
    database.dispose()  # what the app does at shutdown
    assert appender._connection is None
    assert dbapi is not None and dbapi.closed
    assert appender.entries == 1
