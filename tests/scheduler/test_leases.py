"""The job table's election on the test database: a period goes to one claimant, a run whose
process died is taken over once its lease ran out, a heartbeat keeps a long run's lease, and a
shorter cadence applies from its next period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from gateway.kit.db import Database
from gateway.scheduler import leases
from gateway.scheduler.models import SchedulerJob

T0 = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def table(database: Database) -> Iterator[Database]:
    with database.transaction() as session:
        session.execute(delete(SchedulerJob))
    yield database
    with database.transaction() as session:
        session.execute(delete(SchedulerJob))


def _claim(db: Database, owner: str, at: datetime, cadence: float = 60.0) -> bool:
    return leases.claim(db, "job", owner, at, cadence_seconds=cadence, lease_seconds=30)


def test_a_period_goes_to_one_claimant_and_the_next_period_is_aligned(table: Database) -> None:
    leases.ensure_jobs(table, {"job": 60.0}, T0)
    leases.ensure_jobs(table, {"job": 60.0}, T0)  # a second replica starting: one row
    assert _claim(table, "a", T0 + timedelta(seconds=5))
    assert not _claim(table, "b", T0 + timedelta(seconds=6))  # the run holds its lease
    leases.finish(table, "job", "a", started=T0, now=T0 + timedelta(seconds=7), error=None,
                  result={"done": 1})
    assert not _claim(table, "b", T0 + timedelta(seconds=59))  # this period is taken
    [state] = leases.job_states(table)
    assert state.next_run_at == T0 + timedelta(seconds=60) and state.runs == 1
    assert state.last_result == {"done": 1} and not state.running
    assert _claim(table, "b", T0 + timedelta(seconds=61))


def test_a_dead_run_is_taken_over_when_its_lease_runs_out(table: Database) -> None:
    leases.ensure_jobs(table, {"job": 3600.0}, T0)
    assert _claim(table, "a", T0, cadence=3600)  # ...and "a" dies without finishing
    assert not _claim(table, "b", T0 + timedelta(seconds=29), cadence=3600)
    assert _claim(table, "b", T0 + timedelta(seconds=31), cadence=3600)  # not an hour later
    leases.finish(table, "job", "a", started=T0, now=T0 + timedelta(seconds=40),
                  error="late")  # the dead run's record never overwrites the live one's
    leases.finish(table, "job", "b", started=T0, now=T0 + timedelta(seconds=41), error=None)
    [state] = leases.job_states(table)
    assert (state.last_owner, state.last_outcome, state.runs, state.failures) == ("b", "ok", 1, 0)


def test_a_heartbeat_keeps_a_long_run(table: Database) -> None:
    leases.ensure_jobs(table, {"job": 1.0}, T0)
    assert _claim(table, "a", T0, cadence=1)
    assert leases.extend(table, "job", "a", T0 + timedelta(seconds=90))
    assert not _claim(table, "b", T0 + timedelta(seconds=60), cadence=1)
    assert not leases.extend(table, "job", "b", T0 + timedelta(seconds=90))


def test_a_shorter_cadence_applies_from_its_next_period(table: Database) -> None:
    leases.ensure_jobs(table, {"job": 86400.0}, T0)
    assert _claim(table, "a", T0, cadence=86400)
    leases.finish(table, "job", "a", started=T0, now=T0, error=None)
    leases.ensure_jobs(table, {"job": 60.0}, T0 + timedelta(seconds=10))
    [state] = leases.job_states(table)
    assert state.next_run_at == T0 + timedelta(seconds=60) and state.cadence_seconds == 60
