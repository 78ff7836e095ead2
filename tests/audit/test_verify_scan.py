"""The verifier's PostgreSQL scan (gateway/audit/verify_scan.py) and its split over processes
(`verify_parallel`): the server joins the string fields, Python checks the join is the canonical
encoding before hashing it, anything else is encoded field by field; each process checks its own
chains, and the merged report names the same first bad entry as one process does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from gateway.audit import verify_scan
from gateway.audit.signing import TrustedKeys
from gateway.audit.verify import VerifyReport, default_jobs, verify_parallel
from gateway.audit.writer import OperationLog
from gateway.kit.db import Database
from tests.audit.conftest import RecordFactory, append_each, as_dba, rows_by_position, run_verify

pytestmark = pytest.mark.postgres_only  # the server-side scan of the verifier: PostgreSQL only


def _first(report: VerifyReport) -> tuple[int, int, str, str | None] | None:
    first = report.first
    return None if first is None else (first.shard, first.seq, first.kind, first.entry_id)


@pytest.fixture
def log40(db: Database, oplog: OperationLog, record: RecordFactory) -> list[Any]:
    """Forty entries over the 8 chains; returns (id, shard, seq) in chain order."""
    append_each(db, oplog, [record(device_id=None if i % 3 else f"dev-{i}",
                                   client_ip=None if i % 5 == 0 else "10.0.0.1")
                            for i in range(40)])
    return rows_by_position(db)


def _in_second_job(rows: list[Any]) -> Any:
    """An entry in the middle of a chain that `verify_parallel(jobs=2)` hands to its second
    process (chains are dealt round-robin: 0, 2, 4, 6 and 1, 3, 5, 7)."""
    chain = [r for r in rows if r.shard % 2 == 1]
    shard = max({r.shard for r in chain}, key=lambda s: sum(r.shard == s for r in chain))
    mine = [r for r in chain if r.shard == shard]
    assert len(mine) >= 3, "the writer spread too few entries over odd chains"
    return mine[len(mine) // 2]


def _rows_with_request_ids(db: Database) -> list[Any]:
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return list(conn.execute(text("SELECT id, shard, seq, request_id FROM audit_entries")))


def test_an_untouched_log_verifies_in_two_processes(db: Database, database_url: str,
                                                     log40: list[Any],
                                                     trusted: TrustedKeys) -> None:
    report = verify_parallel(database_url, trusted, jobs=2)
    assert report.ok, report.problems
    assert (report.entries, report.shards) == (40, 8)
    assert report.checkpoints == run_verify(db, trusted).checkpoints


def test_an_edit_in_the_second_jobs_chain_is_found_and_named(
        db: Database, database_url: str, log40: list[Any], trusted: TrustedKeys) -> None:
    victim = _in_second_job(log40)
    as_dba(db, "UPDATE audit_entries SET actor_id = 'someone-else' WHERE id = :id",
           {"id": victim.id})
    parallel = verify_parallel(database_url, trusted, jobs=2)
    assert not parallel.ok
    assert _first(parallel) == (victim.shard, victim.seq, "altered", str(victim.id))
    assert _first(parallel) == _first(run_verify(db, trusted))


def test_a_deletion_in_the_second_jobs_chain_is_found_and_named(
        db: Database, database_url: str, log40: list[Any], trusted: TrustedKeys) -> None:
    victim = _in_second_job(log40)
    following = next(r for r in log40 if r.shard == victim.shard and r.seq == victim.seq + 1)
    as_dba(db, "DELETE FROM audit_entries WHERE id = :id", {"id": victim.id})
    parallel = verify_parallel(database_url, trusted, jobs=2)
    assert _first(parallel) == (victim.shard, victim.seq, "missing", str(following.id))
    assert _first(parallel) == _first(run_verify(db, trusted))


def test_two_rows_swapped_across_jobs_and_an_unchained_row_are_each_reported_once(
        db: Database, database_url: str, log40: list[Any], trusted: TrustedKeys) -> None:
    a = next(r for r in log40 if r.shard % 2 == 0 and r.seq == 2)  # a chain of the first job
    b = _in_second_job(log40)
    # Swap the two entries' positions (each chain now holds the other's entry).
    as_dba(db, "UPDATE audit_entries SET shard = CASE WHEN id = :a THEN :bs ELSE :as_ END, "
               "seq = CASE WHEN id = :a THEN :bq ELSE :aq END WHERE id IN (:a, :b)",
           {"a": a.id, "b": b.id, "as_": a.shard, "aq": a.seq, "bs": b.shard, "bq": b.seq})
    as_dba(db, "INSERT INTO audit_entries (id, occurred_at, request_id, actor_kind, actor_id, "
               "connection_id, protocol, operation, action, purpose, resource_ids, decision, "
               "reasons, policy_revision, detail) VALUES (:id, now(), 'r', 'end_user', 'u', "
               "'c', 'p', 'o', 'a', 'user_facing', '[]', 'allow', '[]', 'rev', '{}')",
           {"id": uuid.uuid4()})
    parallel = verify_parallel(database_url, trusted, jobs=2)
    single = run_verify(db, trusted)
    kinds = sorted((p.shard, p.seq, p.kind) for p in parallel.problems)
    assert kinds == sorted((p.shard, p.seq, p.kind) for p in single.problems)
    assert (a.shard, a.seq, "altered") in kinds and (b.shard, b.seq, "altered") in kinds
    assert sum(p.kind == "unchained" for p in parallel.problems) == 1
    assert _first(parallel) == _first(single)


def test_null_and_empty_text_are_told_apart(db: Database, oplog: OperationLog,
                                            record: RecordFactory, trusted: TrustedKeys) -> None:
    """The server writes a NULL as `null` and a value between quotes: swapping one for the
    other changes the bytes hashed."""
    first_id, second_id = "req-null-device", "req-empty-device"
    append_each(db, oplog, [record(request_id=first_id, device_id=None, user_agent=""),
                            record(request_id=second_id, device_id="")])
    assert run_verify(db, trusted).ok
    by_request = {r.request_id: r for r in _rows_with_request_ids(db)}
    first, second = by_request[first_id], by_request[second_id]
    as_dba(db, "UPDATE audit_entries SET device_id = '' WHERE id = :id", {"id": first.id})
    as_dba(db, "UPDATE audit_entries SET device_id = NULL WHERE id = :id", {"id": second.id})
    problems = {(p.shard, p.seq, p.kind) for p in run_verify(db, trusted).problems}
    assert problems == {(first.shard, first.seq, "altered"), (second.shard, second.seq, "altered")}


def test_a_quote_cannot_move_a_field_boundary(db: Database, oplog: OperationLog,
                                              record: RecordFactory, trusted: TrustedKeys) -> None:
    """Moving text across the `","` between two fields keeps the server's joined text the same;
    the quote count sends such a row to the field-by-field encoder, which escapes it."""
    append_each(db, oplog, [record(client_ip="10.0.0.1", user_agent="ua")])
    victim = rows_by_position(db)[0]
    as_dba(db, """UPDATE audit_entries SET client_ip = '10.0.0.1","ua', user_agent = NULL
                  WHERE id = :id""", {"id": victim.id})
    report = run_verify(db, trusted)
    assert _first(report) == (victim.shard, victim.seq, "altered", str(victim.id))


def test_rows_the_plain_check_turns_away_are_encoded_in_batches(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_scan, "_DEFERRED_BATCH", 2)
    odd = ['say "hi"', "back\\slash", "caf\u00e9", "tab\there", "del\x7f"]
    append_each(db, oplog, [record(user_agent=v, connection_id=f"c-{i}")
                            for i, v in enumerate(odd)] + [record()])
    report = run_verify(db, trusted)
    assert report.ok and report.entries == 6
    victim = next(r for r in rows_by_position(db))
    as_dba(db, "UPDATE audit_entries SET connection_id = connection_id || 'x' WHERE id = :id",
           {"id": victim.id})
    assert _first(run_verify(db, trusted)) == (victim.shard, victim.seq, "altered",
                                               str(victim.id))


def test_default_jobs_one_per_two_cpus_at_most_one_per_chain() -> None:
    assert [default_jobs(8, cpus) for cpus in (1, 2, 3, 4, 8, 64)] == [1, 1, 1, 2, 4, 8]
    assert default_jobs(1, 16) == 1


def test_an_error_mid_scan_leaves_the_connection_usable(
        db: Database, oplog: OperationLog, record: RecordFactory, trusted: TrustedKeys,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows are read from libpq directly: an exception while checking one must not leave
    the connection inside the COPY (the rest of the stream is read and dropped)."""
    from sqlalchemy import text

    from gateway.audit.verify import verify

    append_each(db, oplog, [record() for _ in range(5)])
    victim = rows_by_position(db)[0]
    as_dba(db, "UPDATE audit_entries SET actor_id = 'x' WHERE id = :id", {"id": victim.id})

    def fail(*args: Any) -> bool:
        raise RuntimeError("checking failed")

    monkeypatch.setattr(verify_scan, "_file", fail)
    with db.transaction() as session:
        with pytest.raises(RuntimeError, match="checking failed"):
            verify(session, trusted)
        session.rollback()
        assert session.execute(text("SELECT count(*) FROM audit_entries")).scalar() == 5
