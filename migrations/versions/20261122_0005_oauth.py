"""Connecting Gmail: pending consent states (hashed), sealed OAuth tokens, and the mailbox's
connection facts (Google subject blind index, sealed address, state reason, sync request,
shredding time).

Revision ID: 0005_oauth
Revises: 0004_consent_store
Create Date: 2026-11-22 02:12:59.018066
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005_oauth'
down_revision: str | None = '0004_consent_store'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('oauth_states',
    sa.Column('state_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('end_user_id', sa.Uuid(), nullable=False),
    sa.Column('initiator_kind', sa.String(length=32), nullable=False),
    sa.Column('initiator_id', sa.Uuid(), nullable=False),
    sa.Column('initiator_connection', sa.String(length=96), nullable=False),
    sa.Column('initiator_purpose', sa.String(length=64), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=True),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('force_consent', sa.Boolean(), nullable=False),
    sa.Column('return_url', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['end_user_id'], ['principals.id'], name=op.f('fk_oauth_states_end_user_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['initiator_id'], ['principals.id'], name=op.f('fk_oauth_states_initiator_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_oauth_states_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_oauth_states_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_states')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_oauth_states_state_hash'))
    )
    op.create_index(op.f('ix_oauth_states_expires_at'), 'oauth_states', ['expires_at'], unique=False)
    op.create_index(op.f('ix_oauth_states_tenant_id'), 'oauth_states', ['tenant_id'], unique=False)
    op.create_table('oauth_tokens',
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('refresh_token', sa.LargeBinary(), nullable=False),
    sa.Column('access_token', sa.LargeBinary(), nullable=True),
    sa.Column('access_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('invalid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('invalid_reason', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_oauth_tokens_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_oauth_tokens_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_oauth_tokens'))
    )
    op.create_index(op.f('ix_oauth_tokens_refreshed_at'), 'oauth_tokens', ['refreshed_at'], unique=False)
    op.create_index(op.f('ix_oauth_tokens_tenant_id'), 'oauth_tokens', ['tenant_id'], unique=False)
    # batch mode: SQLite cannot add a unique constraint in place (PostgreSQL just alters).
    with op.batch_alter_table('mailboxes') as batch:
        batch.add_column(sa.Column('state_reason', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('google_subject_index', sa.LargeBinary(length=16), nullable=True))
        batch.add_column(sa.Column('email_address', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('connected_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('sync_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('data_deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint('uq_mailboxes_tenant_google_subject', ['tenant_id', 'google_subject_index'])


def downgrade() -> None:
    with op.batch_alter_table('mailboxes') as batch:
        batch.drop_constraint('uq_mailboxes_tenant_google_subject', type_='unique')
        batch.drop_column('data_deleted_at')
        batch.drop_column('sync_requested_at')
        batch.drop_column('connected_at')
        batch.drop_column('email_address')
        batch.drop_column('google_subject_index')
        batch.drop_column('state_reason')
    op.drop_index(op.f('ix_oauth_tokens_tenant_id'), table_name='oauth_tokens')
    op.drop_index(op.f('ix_oauth_tokens_refreshed_at'), table_name='oauth_tokens')
    op.drop_table('oauth_tokens')
    op.drop_index(op.f('ix_oauth_states_tenant_id'), table_name='oauth_states')
    op.drop_index(op.f('ix_oauth_states_expires_at'), table_name='oauth_states')
    op.drop_table('oauth_states')
