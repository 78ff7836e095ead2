"""Page sessions: a person's one-time link and session cookie, both stored as keyed hashes.

Revision ID: 0017_page_sessions
Revises: 0016_sealed_justification
Create Date: 2026-12-07 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_page_sessions"
down_revision: str | None = "0016_sealed_justification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("persona", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("link_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("link_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_page_sessions_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["principal_id"], ["principals.id"], ondelete="CASCADE",
                                name="fk_page_sessions_principal_id_principals"),
        sa.PrimaryKeyConstraint("id", name="pk_page_sessions"),
        sa.UniqueConstraint("link_hash", name="uq_page_sessions_link_hash"),
        sa.UniqueConstraint("session_hash", name="uq_page_sessions_session_hash"),
    )
    op.create_index("ix_page_sessions_tenant_id", "page_sessions", ["tenant_id"])
    op.create_index("ix_page_sessions_principal_id", "page_sessions", ["principal_id"])


def downgrade() -> None:
    op.drop_index("ix_page_sessions_principal_id", table_name="page_sessions")
    op.drop_index("ix_page_sessions_tenant_id", table_name="page_sessions")
    op.drop_table("page_sessions")
