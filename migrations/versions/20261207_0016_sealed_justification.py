"""Access requests: the operator's justification is sealed with the mailbox's data key.

`consent_requests.justification` becomes an encrypted column (ciphertext bytes, like
`justifications.reason`), so crypto-shredding a mailbox erases what operators wrote about its
mail. A migration holds no data key, so it cannot seal text already stored: the clear text of
existing rows is dropped with the old column and reads as null, as a shredded one does.

Revision ID: 0016_sealed_justification
Revises: 0015_sync_truth
Create Date: 2026-12-07 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_sealed_justification"
down_revision: str | None = "0015_sync_truth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consent_requests") as batch:
        batch.drop_column("justification")
    with op.batch_alter_table("consent_requests") as batch:
        batch.add_column(sa.Column("justification", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Sealed text cannot be turned back into clear text here (no key): it is dropped.
    with op.batch_alter_table("consent_requests") as batch:
        batch.drop_column("justification")
    with op.batch_alter_table("consent_requests") as batch:
        batch.add_column(sa.Column("justification", sa.Text(), nullable=False,
                                   server_default=""))
