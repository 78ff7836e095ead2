"""Per-mailbox sync state and the ids seen by a running full sync.

Revision ID: 0007_sync
Revises: 0006_labels
Create Date: 2026-11-22 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007_sync'
down_revision: str | None = '0006_labels'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mailbox_sync',
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('history_id', sa.BigInteger(), nullable=True),
    sa.Column('full_history_id', sa.BigInteger(), nullable=True),
    sa.Column('full_reason', sa.String(length=32), nullable=True),
    sa.Column('full_page_token', sa.String(length=512), nullable=True),
    sa.Column('full_pages_done', sa.Integer(), nullable=False),
    sa.Column('full_messages_done', sa.Integer(), nullable=False),
    sa.Column('full_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('full_completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('full_syncs', sa.Integer(), nullable=False),
    sa.Column('messages_fetched', sa.BigInteger(), nullable=False),
    sa.Column('messages_deleted', sa.BigInteger(), nullable=False),
    sa.Column('label_changes', sa.BigInteger(), nullable=False),
    sa.Column('units_spent', sa.BigInteger(), nullable=False),
    sa.Column('gmail_calls', sa.BigInteger(), nullable=False),
    sa.Column('retries', sa.BigInteger(), nullable=False),
    sa.Column('rate_limited', sa.BigInteger(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('backoff_seconds', sa.Float(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_token', sa.Uuid(), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailbox_sync_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mailbox_sync_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_mailbox_sync'))
    )
    op.create_index(op.f('ix_mailbox_sync_tenant_id'), 'mailbox_sync', ['tenant_id'], unique=False)
    op.create_table('sync_seen',
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('gmail_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_sync_seen_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', 'gmail_id', name=op.f('pk_sync_seen'))
    )


def downgrade() -> None:
    op.drop_table('sync_seen')
    op.drop_index(op.f('ix_mailbox_sync_tenant_id'), table_name='mailbox_sync')
    op.drop_table('mailbox_sync')
