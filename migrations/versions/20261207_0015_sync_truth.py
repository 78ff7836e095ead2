"""Mailbox sync state: 5xx answers counted, and Google's Retry-After kept apart from backoff.

`server_errors` counts Gmail's 5xx answers as they arrive (next to `retries` and
`rate_limited`). `retry_after_until` is the end of the last Retry-After Google sent for the
mailbox: an owner's `POST /v1/mailboxes/{id}/sync` may cut the mailbox's own backoff short, but
never this.

Revision ID: 0015_sync_truth
Revises: 0014_message_label_index
Create Date: 2026-12-07 17:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_sync_truth"
down_revision: str | None = "0014_message_label_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("mailbox_sync", sa.Column("server_errors", sa.BigInteger(), nullable=False,
                                            server_default="0"))
    op.add_column("mailbox_sync", sa.Column("retry_after_until", sa.DateTime(timezone=True),
                                            nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailbox_sync") as batch:
        batch.drop_column("retry_after_until")
        batch.drop_column("server_errors")
