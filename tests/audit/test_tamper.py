"""Tampering with the log directly in the database is detected, and the position named.

Each test writes a small log (one chain, so positions are predictable), then edits it with SQL
the way a database administrator could (append-only trigger off), then verifies."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.audit.canonical import content_bytes_from_row, json_text, link_hash
from gateway.audit.signing import AuditSigner, TrustedKeys
from gateway.audit.writer import OperationLog
from gateway.kit.db import Database
from tests.audit.conftest import (
    RecordFactory,
    append_each,
    as_dba,
    rows_by_position,
    run_verify,
    single_chain,
)

# Tampering as PostgreSQL's DBA could (trigger off, interval arithmetic, ANY); the same
# detections on SQLite: tests/audit/test_sqlite_and_cli.py.
pytestmark = pytest.mark.postgres_only


@pytest.fixture
def log10(db: Database, oplog: OperationLog, record: RecordFactory) -> list[uuid.UUID]:
    """Ten entries in chain 0 (seq 1..10); checkpoints at 1, 4, 7, 10."""
    single_chain(db)
    append_each(db, oplog, [record(request_id=f"req-{i}") for i in range(10)])
    return [row.id for row in rows_by_position(db)]


def test_an_untouched_log_verifies(db: Database, log10: list[uuid.UUID],
                                   trusted: TrustedKeys) -> None:
    report = run_verify(db, trusted)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.first) == (10, 4, None)


@pytest.mark.clause("pp.operation_log")
def test_an_edited_row_is_detected_at_its_position(db: Database, log10: list[uuid.UUID],
                                                    trusted: TrustedKeys) -> None:
    as_dba(db, "UPDATE audit_entries SET actor_id = 'someone-else' WHERE id = :id",
           {"id": log10[4]})
    report = run_verify(db, trusted)
    assert not report.ok
    assert report.first is not None
    assert (report.first.shard, report.first.seq, report.first.kind) == (0, 5, "altered")
    assert report.first.entry_id == str(log10[4])


def test_an_edited_timestamp_or_decision_is_detected(db: Database, log10: list[uuid.UUID],
                                                     trusted: TrustedKeys) -> None:
    as_dba(db, "UPDATE audit_entries SET decision = 'deny' WHERE id = :id", {"id": log10[1]})
    as_dba(db, "UPDATE audit_entries SET occurred_at = occurred_at - interval '1 day' "
               "WHERE id = :id", {"id": log10[8]})
    report = run_verify(db, trusted)
    assert [(p.seq, p.kind) for p in report.problems] == [(2, "altered"), (9, "altered")]


def test_a_deleted_row_is_detected(db: Database, log10: list[uuid.UUID],
                                   trusted: TrustedKeys) -> None:
    as_dba(db, "DELETE FROM audit_entries WHERE id = :id", {"id": log10[2]})
    report = run_verify(db, trusted)
    assert report.first is not None
    assert (report.first.seq, report.first.kind) == (3, "missing")
    assert report.first.entry_id == str(log10[3])  # the entry that follows the gap


def test_deleting_the_tail_is_detected(db: Database, log10: list[uuid.UUID],
                                       trusted: TrustedKeys) -> None:
    as_dba(db, "DELETE FROM audit_entries WHERE id = ANY(:ids)", {"ids": log10[8:]})
    report = run_verify(db, trusted)
    assert {(p.seq, p.kind) for p in report.problems} >= {(9, "missing"), (10, "missing")}


def test_deleting_the_tail_and_rewinding_the_head_is_detected_by_the_checkpoint(
        db: Database, log10: list[uuid.UUID], trusted: TrustedKeys) -> None:
    as_dba(db, "DELETE FROM audit_entries WHERE id = ANY(:ids)", {"ids": log10[8:]})
    as_dba(db, "UPDATE audit_chain_heads SET seq = 8, entry_hash = "
               "(SELECT entry_hash FROM audit_entries WHERE id = :id) WHERE shard = 0",
           {"id": log10[7]})
    report = run_verify(db, trusted)
    assert report.first is not None and report.first.kind == "tail_missing"
    assert report.first.seq == 9


def test_two_swapped_rows_are_detected(db: Database, log10: list[uuid.UUID],
                                       trusted: TrustedKeys) -> None:
    # Swap the chain positions (and links) of entries 4 and 5: the rows now sit in the
    # other's place, as a reordering would leave them.
    as_dba(db, """
        UPDATE audit_entries AS a
        SET seq = b.seq, prev_hash = b.prev_hash, entry_hash = b.entry_hash
        FROM audit_entries AS b
        WHERE (a.id, b.id) IN ((:x, :y), (:y, :x))""", {"x": log10[3], "y": log10[4]})
    report = run_verify(db, trusted)
    assert report.first is not None
    assert (report.first.seq, report.first.kind) == (4, "altered")
    assert {p.seq for p in report.problems} == {4, 5}


def test_swapping_contents_in_place_is_detected(db: Database, log10: list[uuid.UUID],
                                                trusted: TrustedKeys) -> None:
    as_dba(db, """
        UPDATE audit_entries AS a
        SET request_id = b.request_id, actor_id = b.actor_id, tenant_id = b.tenant_id
        FROM audit_entries AS b
        WHERE (a.id, b.id) IN ((:x, :y), (:y, :x))""", {"x": log10[5], "y": log10[6]})
    report = run_verify(db, trusted)
    assert [(p.seq, p.kind) for p in report.problems] == [(6, "altered"), (7, "altered")]


def _copy_of(db: Database, entry_id: uuid.UUID, **changes: object) -> dict[str, object]:
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM audit_entries WHERE id = :id"),
                           {"id": entry_id}).mappings().one()
    values = dict(row)
    values.update({"id": uuid.uuid4(), **changes})
    return values


def _insert(db: Database, values: dict[str, object]) -> None:
    columns = ", ".join(values)
    params = ", ".join(f"CAST(:{c} AS json)" if c in {"resource_ids", "reasons", "detail"}
                       else f":{c}" for c in values)
    encoded = {k: json_text(v) if k in {"resource_ids", "reasons", "detail"} else v
               for k, v in values.items()}
    as_dba(db, f"INSERT INTO audit_entries ({columns}) VALUES ({params})", encoded)


def test_a_row_inserted_at_a_taken_position_is_detected(db: Database, log10: list[uuid.UUID],
                                                        trusted: TrustedKeys) -> None:
    _insert(db, _copy_of(db, log10[5], actor_id="forged"))
    report = run_verify(db, trusted)
    kinds = {(p.seq, p.kind) for p in report.problems}
    assert (6, "altered") in kinds or (6, "duplicate") in kinds
    assert report.first is not None and report.first.seq == 6


def test_a_row_inserted_with_a_correct_hash_is_still_detected(
        db: Database, log10: list[uuid.UUID], trusted: TrustedKeys) -> None:
    """Someone who knows the hash format inserts a well-formed entry between 5 and 6: the
    positions after it no longer link (or collide)."""
    forged = _copy_of(db, log10[4], actor_id="forged", seq=6)
    content = content_bytes_from_row([forged[c] for c in (
        "id", "occurred_at", "request_id", "tenant_id", "mailbox_id", "actor_kind", "actor_id",
        "connection_id", "client_ip", "user_agent", "device_id", "protocol",
        "upstream_protocol", "operation", "action", "purpose", "resource_type",
        "resource_ids", "decision", "reasons", "policy_revision", "detail")])
    prev = bytes(forged["entry_hash"])  # type: ignore[arg-type]
    forged.update(prev_hash=prev, entry_hash=link_hash(prev, 6, 0, content))
    _insert(db, forged)
    report = run_verify(db, trusted)
    assert report.first is not None and report.first.seq == 6
    assert report.first.kind in {"duplicate", "link_broken"}


def test_a_row_inserted_around_the_writer_is_detected(db: Database, log10: list[uuid.UUID],
                                                      trusted: TrustedKeys) -> None:
    _insert(db, _copy_of(db, log10[0], shard=None, seq=None, prev_hash=None, entry_hash=None))
    report = run_verify(db, trusted)
    assert [p.kind for p in report.problems] == ["unchained"]


def test_a_chain_recomputed_without_the_key_fails_at_the_checkpoint(
        db: Database, log10: list[uuid.UUID], trusted: TrustedKeys) -> None:
    """Edit entry 5, then recompute every hash after it (what an administrator who read the
    code could do): the chain is self-consistent again, but the signed checkpoint at 7 no
    longer matches."""
    as_dba(db, "UPDATE audit_entries SET actor_id = 'rewritten' WHERE id = :id",
           {"id": log10[4]})
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT * FROM audit_entries WHERE shard = 0 ORDER BY seq")).mappings().all()
    prev = bytes(rows[3]["entry_hash"])
    for row in rows[4:]:
        content = content_bytes_from_row([row[c] for c in (
            "id", "occurred_at", "request_id", "tenant_id", "mailbox_id", "actor_kind",
            "actor_id", "connection_id", "client_ip", "user_agent", "device_id", "protocol",
            "upstream_protocol", "operation", "action", "purpose", "resource_type",
            "resource_ids", "decision", "reasons", "policy_revision", "detail")])
        digest = link_hash(prev, row["seq"], 0, content)
        as_dba(db, "UPDATE audit_entries SET prev_hash = :p, entry_hash = :h WHERE id = :id",
               {"p": prev, "h": digest, "id": row["id"]})
        prev = digest
    as_dba(db, "UPDATE audit_chain_heads SET entry_hash = :h WHERE shard = 0", {"h": prev})
    report = run_verify(db, trusted)
    assert [(p.seq, p.kind) for p in report.problems] == [(7, "checkpoint_mismatch"),
                                                          (10, "checkpoint_mismatch")]


def test_a_forged_checkpoint_signature_is_detected(db: Database, log10: list[uuid.UUID],
                                                   trusted: TrustedKeys) -> None:
    as_dba(db, "UPDATE audit_checkpoints SET signature = :s WHERE seq = 4", {"s": bytes(64)})
    report = run_verify(db, trusted)
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "checkpoint_signature_invalid")]


def test_checkpoints_from_an_untrusted_key_do_not_count(db: Database, log10: list[uuid.UUID]
                                                        ) -> None:
    stranger = TrustedKeys([AuditSigner.generate().private_key.public_key()])
    report = run_verify(db, stranger)
    assert {p.kind for p in report.problems} == {"checkpoint_signature_invalid"}


def test_the_trigger_refuses_updates_and_deletes_through_the_normal_path(
        db: Database, log10: list[uuid.UUID]) -> None:
    for statement in ("UPDATE audit_entries SET actor_id = 'x' WHERE id = :id",
                      "UPDATE audit_entries SET seq = 99 WHERE id = :id",
                      "DELETE FROM audit_entries WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement), {"id": log10[0]})
    for statement in ("UPDATE audit_checkpoints SET seq = 1", "DELETE FROM audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert len(rows_by_position(db)) == 10

