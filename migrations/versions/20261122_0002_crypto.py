"""crypto: per-mailbox wrapped data keys (mailbox_data_keys).

Written by hand to match gateway/crypto/models.py exactly (names follow the naming convention
in gateway/kit/models.py, spelled out with op.f so they do not depend on env.py).

Revision ID: 0002_crypto
Revises: 0001_foundation
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_crypto"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_data_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("mailbox_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_data_keys")),
        sa.UniqueConstraint("mailbox_id", "version",
                            name=op.f("uq_mailbox_data_keys_mailbox_id")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_mailbox_data_keys_version_positive")),
        sa.CheckConstraint("(wrapped_key IS NULL) = (destroyed_at IS NOT NULL)",
                           name=op.f("ck_mailbox_data_keys_key_xor_destroyed")),
    )
    op.create_index(op.f("ix_mailbox_data_keys_tenant_id"), "mailbox_data_keys", ["tenant_id"])
    op.create_index(op.f("ix_mailbox_data_keys_kek_version"), "mailbox_data_keys",
                    ["kek_version"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mailbox_data_keys_kek_version"), table_name="mailbox_data_keys")
    op.drop_index(op.f("ix_mailbox_data_keys_tenant_id"), table_name="mailbox_data_keys")
    op.drop_table("mailbox_data_keys")
