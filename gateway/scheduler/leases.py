"""The job table's reads and writes: which replica runs a job's period, and what runs leave.

Election is one conditional UPDATE per job and period: the replica whose UPDATE moves
`next_run_at` from a moment already past to the start of the next period runs this period's
run; every other replica's UPDATE matches no row. On PostgreSQL the row lock orders concurrent
UPDATEs and the second re-reads the row the first committed (READ COMMITTED), so it sees the
period taken; SQLite has one writer at a time. Both give each period to one replica, whatever
their number, without a lock held across the run.

The lease (`lease_owner`, `lease_until`, extended by the runner's heartbeat) keeps a run that
outlasts its period from being started again beside itself, and marks a run whose process died:
once its lease ran out unreleased, the next replica to look runs the job again at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.kit.db import Database
from gateway.scheduler.models import SchedulerJob


def next_slot(now: datetime, cadence_seconds: float) -> datetime:
    """The start of the period after the one `now` is in; periods are whole multiples of the
    cadence since the Unix epoch (a daily job's period starts at 00:00 UTC)."""
    index = math.floor(now.timestamp() / cadence_seconds) + 1
    return datetime.fromtimestamp(index * cadence_seconds, UTC)


def ensure_jobs(database: Database, cadences: Mapping[str, float], now: datetime) -> None:
    """A row for every job (a new one is due at once); a changed cadence applies from the
    next period of the new cadence when that comes sooner than the planned run."""
    for name, cadence in cadences.items():
        with database.transaction() as session:
            row = session.get(SchedulerJob, name)
            if row is not None:
                if row.cadence_seconds != cadence:
                    row.cadence_seconds = cadence
                    row.next_run_at = min(row.next_run_at, next_slot(now, cadence))
                continue
        try:
            with database.transaction() as session:
                session.add(SchedulerJob(name=name, next_run_at=now, cadence_seconds=cadence,
                                         runs=0, failures=0))
        except IntegrityError:
            pass  # another replica created it first


def due_jobs(database: Database, now: datetime) -> set[str]:
    """The jobs a claim could take now: one read, so an idle tick writes nothing."""
    with database.transaction() as session:
        return set(session.scalars(select(SchedulerJob.name).where(
            or_(SchedulerJob.lease_until.is_(None), SchedulerJob.lease_until < now),
            or_(SchedulerJob.next_run_at <= now, SchedulerJob.lease_owner.is_not(None)))))


def claim(database: Database, name: str, owner: str, now: datetime, *,
          cadence_seconds: float, lease_seconds: float) -> bool:
    """Take this period's run of `name` (or a dead run's, its lease expired); False when the
    period is not due yet, another replica took it, or a run is still in progress."""
    with database.transaction() as session:
        result = session.execute(
            update(SchedulerJob)
            .where(SchedulerJob.name == name,
                   or_(SchedulerJob.lease_until.is_(None), SchedulerJob.lease_until < now),
                   or_(SchedulerJob.next_run_at <= now, SchedulerJob.lease_owner.is_not(None)))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds),
                    next_run_at=next_slot(now, cadence_seconds), last_started_at=now)
            .execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0) == 1


def extend(database: Database, name: str, owner: str, until: datetime) -> bool:
    """The heartbeat of a run in progress; False if the lease is no longer this owner's."""
    with database.transaction() as session:
        result = session.execute(
            update(SchedulerJob)
            .where(SchedulerJob.name == name, SchedulerJob.lease_owner == owner)
            .values(lease_until=until).execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0) == 1


def finish(database: Database, name: str, owner: str, *, started: datetime, now: datetime,
           error: str | None, result: Any = None) -> None:
    """Record the run's outcome and release the lease (only if it is still this owner's: a
    run taken over after its lease ran out leaves the record to the run that took it)."""
    values: dict[str, Any] = {
        "lease_owner": None, "lease_until": None, "last_finished_at": now,
        "last_duration_seconds": (now - started).total_seconds(), "last_owner": owner,
        "last_outcome": "failed" if error else "ok", "runs": SchedulerJob.runs + 1,
        "last_result": None if result is None else json.dumps(result, default=str)[:4000]}
    if error:
        values.update(last_failed_at=now, last_error=error[:1000],
                      failures=SchedulerJob.failures + 1)
    else:
        values["last_ok_at"] = now
    with database.transaction() as session:
        session.execute(update(SchedulerJob)
                        .where(SchedulerJob.name == name, SchedulerJob.lease_owner == owner)
                        .values(**values).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class JobState:
    """One job's row as the status page and the metrics show it."""

    name: str
    cadence_seconds: float
    next_run_at: datetime
    running: bool
    lease_owner: str | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_duration_seconds: float | None
    last_outcome: str | None
    last_ok_at: datetime | None
    last_failed_at: datetime | None
    last_error: str | None
    last_result: Any
    last_owner: str | None
    runs: int
    failures: int

    def as_dict(self) -> dict[str, Any]:
        return {key: value.isoformat().replace("+00:00", "Z")
                if isinstance(value, datetime) else value
                for key, value in self.__dict__.items()}


def job_states(database: Database) -> list[JobState]:
    with database.transaction() as session:
        rows = session.scalars(select(SchedulerJob).order_by(SchedulerJob.name)).all()
        return [JobState(
            name=row.name, cadence_seconds=row.cadence_seconds, next_run_at=row.next_run_at,
            running=row.lease_owner is not None, lease_owner=row.lease_owner,
            last_started_at=row.last_started_at, last_finished_at=row.last_finished_at,
            last_duration_seconds=row.last_duration_seconds, last_outcome=row.last_outcome,
            last_ok_at=row.last_ok_at, last_failed_at=row.last_failed_at,
            last_error=row.last_error,
            last_result=json.loads(row.last_result) if row.last_result else None,
            last_owner=row.last_owner, runs=row.runs, failures=row.failures)
            for row in rows]
