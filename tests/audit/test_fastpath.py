"""The PostgreSQL fast paths: the link sent with COMMIT (gateway/audit/pg_fastpath.py) and the
verifier's byte-level content encoder (gateway/audit/verify_scan.py) must change nothing about
what is stored, hashed or detected."""

from __future__ import annotations

import logging
import struct
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import make_url, select, text

from gateway.audit import chain
from gateway.audit.canonical import content_bytes_from_row
from gateway.audit.chain import CheckpointPolicy
from gateway.audit.models import AuditCheckpoint, AuditEntry
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.verify_scan import _content_from_bytes, _content_general
from gateway.audit.writer import OperationLog
from gateway.kit.db import Database
from tests.audit.conftest import RecordFactory, append_each, as_dba, rows_by_position, run_verify

pytestmark = pytest.mark.postgres_only  # psycopg's fast path: PostgreSQL only

PG_EPOCH = 946_684_800_000_000  # 2000-01-01, where PostgreSQL's binary timestamps count from
ODD_VALUES = ['say "hi"', "back\\slash", "caf\u00e9 \u2713", "tab\there", "del\x7f", "",
              "\U0001f600"]


def _fetched_row(**overrides: bytes | int | None) -> list[bytes | int | None]:
    """A row as the verifier's psycopg scan fetches it: shard, seq, prev, hash, then content."""
    ident = str(uuid.uuid4()).encode()
    content: dict[str, bytes | int | None] = {
        "id": ident, "occurred_at": struct.pack(">q", 1_764_000_000_123_456 - PG_EPOCH),
        "request_id": b"req-1",
        "tenant_id": ident, "mailbox_id": None, "actor_kind": b"end_user", "actor_id": b"u-1",
        "connection_id": b"api_key:gw_x", "client_ip": b"10.0.0.1", "user_agent": b"ua",
        "device_id": None, "protocol": b"https/rest 1.1", "upstream_protocol": None,
        "operation": b"mail:message:read", "action": b"mail.message.read",
        "purpose": b"user_facing", "resource_type": b"message", "resource_ids": b'["m-1"]',
        "decision": b"allow", "reasons": b'["allow_owner"]', "policy_revision": b"rev",
        "detail": b'{"k":"caf\\u00e9"}'}
    content.update(overrides)
    return [0, 1, bytes(32), bytes(32), *content.values()]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_the_byte_encoder_matches_the_canonical_one(value: str) -> None:
    row = _fetched_row(user_agent=value.encode(), device_id=value.encode())
    general = _content_general(row)
    assert _content_from_bytes(row) == general
    # The same row as the writer holds it: text as str, occurred_at as a datetime.
    as_text: list[object] = [v.decode() if isinstance(v, bytes) else v
                             for v in (row[4], *row[6:])]
    as_text.insert(1, datetime(2025, 11, 24, 16, 0, 0, 123456, tzinfo=UTC))
    assert general == content_bytes_from_row(as_text)  # the writer's own encoding


def test_odd_values_verify_and_an_edit_of_one_is_caught(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    append_each(db, oplog, [record(user_agent=v, device_id=None if i % 2 else v,
                                   detail={"note": v}) for i, v in enumerate(ODD_VALUES)])
    assert run_verify(db, trusted).ok
    victim = rows_by_position(db)[2]
    as_dba(db, "UPDATE audit_entries SET user_agent = user_agent || '\u00e9' WHERE id = :id",
           {"id": victim.id})
    report = run_verify(db, trusted)
    assert report.first is not None
    assert (report.first.shard, report.first.seq, report.first.kind) == (
        victim.shard, victim.seq, "altered")


def test_a_flush_after_the_log_committed_is_refused(db: Database,
                                                    record: RecordFactory) -> None:
    with db.transaction() as session:
        entry = OperationLog().append(session, record())  # no checkpoints: none expected
        chain._before_commit(session)  # what a commit runs first: link, and COMMIT with it
        session.add(AuditCheckpoint(shard=0, seq=1, entry_hash=bytes(32), key_id="k",
                                    signature=bytes(64)))
        with pytest.raises(RuntimeError, match="already committed"):
            session.flush()
        session.rollback()
    with db.transaction() as session:  # the entry was committed, chained, and nothing else
        stored = session.get(AuditEntry, (entry.id, entry.occurred_at))
        assert stored is not None and stored.seq is not None
        assert session.scalars(select(AuditCheckpoint)).all() == []


def test_releasing_a_savepoint_neither_links_nor_commits_early(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        oplog.append(session, record(request_id="outer"))
        with session.begin_nested():  # released normally: fires before_commit for the savepoint
            oplog.append(session, record(request_id="inner"))
        assert session.scalar(text("SELECT count(*) FROM audit_entries WHERE seq IS NULL")) == 2
        raise RuntimeError("the handler fails after the savepoint")
    assert rows_by_position(db) == []  # nothing was committed halfway
    with db.transaction() as session:
        oplog.append(session, record(request_id="outer"))
        with session.begin_nested():
            oplog.append(session, record(request_id="inner"))
    rows = rows_by_position(db)
    assert len(rows) == 2 and rows[0].shard == rows[1].shard
    assert [r.seq for r in rows] == [1, 2]
    assert run_verify(db, trusted).ok


@pytest.fixture
def log_role_db(db: Database, database_url: str) -> Iterator[tuple[Database, str]]:
    role = f"gw_log_{uuid.uuid4().hex[:10]}"
    with db.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public, audit_partitions TO "{role}"'))
        conn.execute(text("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public "
                          f'TO "{role}"'))
    role_db = Database.from_url(make_url(database_url).set(username=role, password=None)
                                .render_as_string(hide_password=False))
    yield role_db, role
    role_db.dispose()
    with db.engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


def test_a_checkpoint_that_cannot_be_written_does_not_undo_the_entry(
        db: Database, log_role_db: tuple[Database, str], record: RecordFactory,
        signer: AuditSigner, caplog: pytest.LogCaptureFixture) -> None:
    role_db, role = log_role_db
    with db.engine.begin() as conn:
        conn.execute(text(f'REVOKE INSERT ON audit_checkpoints FROM "{role}"'))
    every_entry = OperationLog(checkpoints=CheckpointPolicy(signer, every=1))
    with caplog.at_level(logging.WARNING, logger="gateway.audit.pg_fastpath"):
        append_each(role_db, every_entry, [record()])
    assert "checkpoint of chain" in caplog.text
    rows = rows_by_position(db)
    assert len(rows) == 1 and rows[0].seq == 1  # committed and chained all the same
    with db.transaction() as session:
        assert session.scalars(select(AuditCheckpoint)).all() == []
    append_each(db, every_entry, [record()])  # with the grant, the next append signs
    with db.transaction() as session:
        assert len(session.scalars(select(AuditCheckpoint)).all()) == 1
