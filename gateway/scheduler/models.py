"""One row per periodic job: the lease that elects the replica running it, and what its runs
left behind (last run, next run, last error) for the status page and the metrics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.models import Base


class SchedulerJob(Base):
    __tablename__ = "scheduler_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The start of the next period: the replica that moves it forward runs this period's run.
    next_run_at: Mapped[datetime] = mapped_column(nullable=False)
    cadence_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    # Set while a run is in progress; a lease that ran out unreleased is a run whose process died.
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_started_at: Mapped[datetime | None] = mapped_column()
    last_finished_at: Mapped[datetime | None] = mapped_column()
    last_duration_seconds: Mapped[float | None] = mapped_column(Float)
    last_outcome: Mapped[str | None] = mapped_column(String(16))  # ok | failed
    last_ok_at: Mapped[datetime | None] = mapped_column()
    last_failed_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)  # of the last failed run
    last_result: Mapped[str | None] = mapped_column(Text)  # the job's report, JSON
    last_owner: Mapped[str | None] = mapped_column(String(200))
    runs: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
