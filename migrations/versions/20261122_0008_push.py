"""Gmail watch state per mailbox (gateway.push): topic, expiry, push counters, address index.

Revision ID: 0008_push
Revises: 0007_sync
Create Date: 2026-11-22 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008_push'
down_revision: str | None = '0007_sync'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mailbox_watches',
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('address_index', sa.LargeBinary(length=16), nullable=True),
    sa.Column('topic', sa.String(length=255), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('history_id', sa.BigInteger(), nullable=True),
    sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=64), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_push_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_push_history_id', sa.BigInteger(), nullable=True),
    sa.Column('pushes_received', sa.BigInteger(), nullable=False),
    sa.Column('pushes_coalesced', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailbox_watches_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mailbox_watches_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_mailbox_watches'))
    )
    op.create_index('ix_mailbox_watches_address_index', 'mailbox_watches', ['address_index'], unique=False)
    op.create_index(op.f('ix_mailbox_watches_tenant_id'), 'mailbox_watches', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_mailbox_watches_tenant_id'), table_name='mailbox_watches')
    op.drop_index('ix_mailbox_watches_address_index', table_name='mailbox_watches')
    op.drop_table('mailbox_watches')
