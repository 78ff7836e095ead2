"""SQLite's one writer (docs/decisions/0008-sqlite-one-writer.md): an independent commit
inside a unit of work that holds the write lock joins it instead of waiting for it; writers of
different contexts queue in arrival order; datetimes come back aware UTC on both databases."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.accounts import service as accounts
from gateway.accounts.models import Tenant
from gateway.kit.db import Database
from gateway.kit.migrate import upgrade
from gateway.kit.sqlite_writer import WriterGate


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    return Database.from_url(url)


def _slugs(db: Database) -> set[str]:
    with db.transaction() as session:
        return set(session.scalars(select(Tenant.slug)))


def test_an_independent_commit_inside_a_writing_unit_joins_it(sqlite_db: Database) -> None:
    with pytest.raises(RuntimeError), sqlite_db.transaction() as outer:
        accounts.create_tenant(outer, "before")  # the outer unit now holds the write lock
        with sqlite_db.independent_session() as inner:
            assert inner is outer  # the same connection: nothing waits for itself
            accounts.create_tenant(inner, "durable")
        raise RuntimeError("the outer unit fails after the independent commit")
    # Committed before the call returned, so the outer rollback cannot erase it.
    assert _slugs(sqlite_db) == {"before", "durable"}


def test_a_failing_joined_block_undoes_only_itself(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as outer:
        accounts.create_tenant(outer, "kept")
        with pytest.raises(ValueError), sqlite_db.independent_session() as inner:
            accounts.create_tenant(inner, "undone")
            raise ValueError("the block fails")
        accounts.create_tenant(outer, "after")
    assert _slugs(sqlite_db) == {"kept", "after"}


def test_without_a_write_lock_the_independent_unit_has_its_own_connection(
        sqlite_db: Database) -> None:
    with pytest.raises(RuntimeError), sqlite_db.transaction() as outer:
        outer.scalar(select(Tenant.id))  # reading takes no write lock
        with sqlite_db.independent_session() as inner:
            assert inner is not outer
            accounts.create_tenant(inner, "own")
        accounts.create_tenant(outer, "rolled-back")
        raise RuntimeError("the outer unit fails")
    assert _slugs(sqlite_db) == {"own"}


def test_units_of_different_threads_queue_for_the_writer(sqlite_db: Database) -> None:
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            for round_ in range(5):
                with sqlite_db.transaction() as session:
                    accounts.create_tenant(session, f"t{number}-{round_}")
                    time.sleep(0.01)  # hold the lock a little, as a Gmail call would
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_slugs(sqlite_db)) == 30


def test_the_gate_serves_writers_in_arrival_order() -> None:
    gate = WriterGate()
    first, order = object(), []
    gate.acquire(first, timeout=1)
    waiters = [object() for _ in range(4)]

    def wait_then_release(owner: object) -> None:
        gate.acquire(owner, timeout=5)
        order.append(waiters.index(owner))
        gate.release(owner)

    threads = []
    for owner in waiters:
        threads.append(threading.Thread(target=wait_then_release, args=(owner,)))
        threads[-1].start()
        while len(gate._queue) < len(threads):  # queued before the next one arrives
            time.sleep(0.001)
    gate.release(first)
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3]


def test_a_turn_not_granted_in_time_is_database_is_locked() -> None:
    import sqlite3

    gate = WriterGate()
    gate.acquire("holder", timeout=1)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        gate.acquire("late", timeout=0.05)
    gate.release("holder")
    gate.acquire("next", timeout=1)  # the timed-out waiter left no trace in the queue


def test_datetimes_are_stored_and_read_as_utc(db: Database) -> None:
    """On both databases: aware UTC back, whatever zone (or none) went in."""
    moment = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
    with db.transaction() as session:
        plus_two = accounts.create_tenant(session, "zoned")
        plus_two.created_at = moment.astimezone(timezone(timedelta(hours=2)))
        naive = accounts.create_tenant(session, "naive")
        naive.created_at = moment.replace(tzinfo=None)
    with db.transaction() as session:
        for slug in ("zoned", "naive"):
            value = session.scalar(select(Tenant.created_at).where(Tenant.slug == slug))
            assert value == moment and value.tzinfo is UTC
