"""The scheduler's job table: one row per periodic job, the lease that elects the replica
running it, and its last run, next run and last error (docs/deploy.md, "The scheduler").

Revision ID: 0018_scheduler_jobs
Revises: 0017_page_sessions
Create Date: 2026-12-07 20:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_scheduler_jobs"
down_revision: str | None = "0017_page_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "scheduler_jobs",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("next_run_at", moment, nullable=False),
        sa.Column("cadence_seconds", sa.Float(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", moment, nullable=True),
        sa.Column("last_started_at", moment, nullable=True),
        sa.Column("last_finished_at", moment, nullable=True),
        sa.Column("last_duration_seconds", sa.Float(), nullable=True),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.Column("last_ok_at", moment, nullable=True),
        sa.Column("last_failed_at", moment, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("last_owner", sa.String(200), nullable=True),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_scheduler_jobs"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_jobs")
