"""Foundation: tenants, principals, API keys, mailboxes and the operation log.

Revision ID: 0001_foundation
Revises: 
Create Date: 2026-11-22 01:56:02.874935
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001_foundation'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('prev_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('entry_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=True),
    sa.Column('mailbox_id', sa.Uuid(), nullable=True),
    sa.Column('actor_kind', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('connection_id', sa.String(length=128), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=256), nullable=True),
    sa.Column('device_id', sa.String(length=128), nullable=True),
    sa.Column('protocol', sa.String(length=64), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=True),
    sa.Column('resource_ids', sa.JSON(), nullable=False),
    sa.Column('decision', sa.String(length=8), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('policy_revision', sa.String(length=80), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    op.create_index('ix_audit_entries_actor_time', 'audit_entries', ['actor_id', 'occurred_at'], unique=False)
    op.create_index(op.f('ix_audit_entries_occurred_at'), 'audit_entries', ['occurred_at'], unique=False)
    op.create_index('ix_audit_entries_shard_seq', 'audit_entries', ['shard', 'seq'], unique=True)
    op.create_index('ix_audit_entries_tenant_mailbox_time', 'audit_entries', ['tenant_id', 'mailbox_id', 'occurred_at'], unique=False)
    op.create_table('tenants',
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenants_slug'))
    )
    op.create_table('principals',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('groups', sa.JSON(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_principals_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_principals')),
    sa.UniqueConstraint('tenant_id', 'kind', 'subject', name=op.f('uq_principals_tenant_id'))
    )
    op.create_index(op.f('ix_principals_tenant_id'), 'principals', ['tenant_id'], unique=False)
    op.create_table('api_keys',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('principal_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_api_keys_principal_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_principal_id'), 'api_keys', ['principal_id'], unique=False)
    op.create_index(op.f('ix_api_keys_tenant_id'), 'api_keys', ['tenant_id'], unique=False)
    op.create_table('mailboxes',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('owner_principal_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('granted_scopes', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_principal_id'], ['principals.id'], name=op.f('fk_mailboxes_owner_principal_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_mailboxes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailboxes'))
    )
    op.create_index(op.f('ix_mailboxes_owner_principal_id'), 'mailboxes', ['owner_principal_id'], unique=False)
    op.create_index(op.f('ix_mailboxes_tenant_id'), 'mailboxes', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_mailboxes_tenant_id'), table_name='mailboxes')
    op.drop_index(op.f('ix_mailboxes_owner_principal_id'), table_name='mailboxes')
    op.drop_table('mailboxes')
    op.drop_index(op.f('ix_api_keys_tenant_id'), table_name='api_keys')
    op.drop_index(op.f('ix_api_keys_principal_id'), table_name='api_keys')
    op.drop_table('api_keys')
    op.drop_index(op.f('ix_principals_tenant_id'), table_name='principals')
    op.drop_table('principals')
    op.drop_table('tenants')
    op.drop_index('ix_audit_entries_tenant_mailbox_time', table_name='audit_entries')
    op.drop_index('ix_audit_entries_shard_seq', table_name='audit_entries')
    op.drop_index(op.f('ix_audit_entries_occurred_at'), table_name='audit_entries')
    op.drop_index('ix_audit_entries_actor_time', table_name='audit_entries')
    op.drop_table('audit_entries')
