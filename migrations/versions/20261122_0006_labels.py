"""Gmail labels per mailbox, names sealed.

Revision ID: 0006_labels
Revises: 0005_oauth
Create Date: 2026-11-22 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006_labels'
down_revision: str | None = '0005_oauth'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('labels',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('gmail_label_id', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('name', sa.LargeBinary(), nullable=False),
    sa.Column('message_list_visibility', sa.String(length=16), nullable=True),
    sa.Column('label_list_visibility', sa.String(length=32), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_labels_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_labels_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labels')),
    sa.UniqueConstraint('mailbox_id', 'gmail_label_id', name=op.f('uq_labels_mailbox_id'))
    )
    op.create_index(op.f('ix_labels_mailbox_id'), 'labels', ['mailbox_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_labels_mailbox_id'), table_name='labels')
    op.drop_table('labels')
