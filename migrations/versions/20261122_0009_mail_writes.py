"""Idempotency keys for mail writes (send, draft send).

Revision ID: 0009_mail_writes
Revises: 0008_push
Create Date: 2026-11-22 13:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009_mail_writes'
down_revision: str | None = '0008_push'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mail_idempotency_keys',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('principal_id', sa.Uuid(), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('key_index', sa.LargeBinary(length=16), nullable=False),
    sa.Column('request_index', sa.LargeBinary(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.JSON(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mail_idempotency_keys_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_mail_idempotency_keys_principal_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mail_idempotency_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_idempotency_keys')),
    sa.UniqueConstraint('mailbox_id', 'key_index', name=op.f('uq_mail_idempotency_keys_mailbox_id'))
    )
    op.create_index(op.f('ix_mail_idempotency_keys_expires_at'), 'mail_idempotency_keys', ['expires_at'], unique=False)
    op.create_index(op.f('ix_mail_idempotency_keys_principal_id'), 'mail_idempotency_keys', ['principal_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_mail_idempotency_keys_principal_id'), table_name='mail_idempotency_keys')
    op.drop_index(op.f('ix_mail_idempotency_keys_expires_at'), table_name='mail_idempotency_keys')
    op.drop_table('mail_idempotency_keys')
