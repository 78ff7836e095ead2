"""Consent grants and access requests (Limited Use rule 6); the encrypted message store and
its blind address index.

Revision ID: 0004_consent_store
Revises: 0003_audit
Create Date: 2026-11-22 02:01:29.355083
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004_consent_store'
down_revision: str | None = '0003_audit'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consent_grants',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('owner_principal_id', sa.Uuid(), nullable=False),
    sa.Column('operator_principal_id', sa.Uuid(), nullable=True),
    sa.Column('operator_group', sa.String(length=100), nullable=True),
    sa.Column('message_ids', sa.JSON(), nullable=False),
    sa.Column('thread_ids', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Uuid(), nullable=True),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_consent_grants_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['operator_principal_id'], ['principals.id'], name=op.f('fk_consent_grants_operator_principal_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_principal_id'], ['principals.id'], name=op.f('fk_consent_grants_owner_principal_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_consent_grants_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_grants'))
    )
    op.create_index('ix_consent_grants_mailbox_expires', 'consent_grants', ['mailbox_id', 'expires_at'], unique=False)
    op.create_table('consent_requests',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('operator_principal_id', sa.Uuid(), nullable=False),
    sa.Column('message_ids', sa.JSON(), nullable=False),
    sa.Column('thread_ids', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('requested_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('grant_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_consent_requests_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['operator_principal_id'], ['principals.id'], name=op.f('fk_consent_requests_operator_principal_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_consent_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_requests'))
    )
    op.create_index('ix_consent_requests_mailbox_status', 'consent_requests', ['mailbox_id', 'status'], unique=False)
    op.create_table('messages',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('gmail_id', sa.String(length=64), nullable=False),
    sa.Column('thread_id', sa.String(length=64), nullable=False),
    sa.Column('history_id', sa.BigInteger(), nullable=False),
    sa.Column('internal_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('label_ids', sa.JSON(), nullable=False),
    sa.Column('size_estimate', sa.Integer(), nullable=False),
    sa.Column('attachment_count', sa.Integer(), nullable=False),
    sa.Column('summary', sa.LargeBinary(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_messages_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_messages_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('mailbox_id', 'gmail_id', name=op.f('uq_messages_mailbox_id'))
    )
    op.create_index('ix_messages_mailbox_date', 'messages', ['mailbox_id', 'internal_date', 'id'], unique=False)
    op.create_index('ix_messages_mailbox_thread', 'messages', ['mailbox_id', 'thread_id'], unique=False)
    op.create_table('message_addresses',
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('address_index', sa.LargeBinary(length=32), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_addresses_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'role', 'address_index', name=op.f('pk_message_addresses'))
    )
    op.create_index('ix_message_addresses_lookup', 'message_addresses', ['mailbox_id', 'address_index'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_message_addresses_lookup', table_name='message_addresses')
    op.drop_table('message_addresses')
    op.drop_index('ix_messages_mailbox_thread', table_name='messages')
    op.drop_index('ix_messages_mailbox_date', table_name='messages')
    op.drop_table('messages')
    op.drop_index('ix_consent_requests_mailbox_status', table_name='consent_requests')
    op.drop_table('consent_requests')
    op.drop_index('ix_consent_grants_mailbox_expires', table_name='consent_grants')
    op.drop_table('consent_grants')
