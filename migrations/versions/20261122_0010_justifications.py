"""Security and legal justifications for human access (Limited Use rule 6 b/c); reasons sealed.

Revision ID: 0010_justifications
Revises: 0009_mail_writes
Create Date: 2026-11-22 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010_justifications'
down_revision: str | None = '0009_mail_writes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('justifications',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('operator_principal_id', sa.Uuid(), nullable=True),
    sa.Column('operator_group', sa.String(length=100), nullable=True),
    sa.Column('message_ids', sa.JSON(), nullable=False),
    sa.Column('thread_ids', sa.JSON(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('case_ref', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.LargeBinary(), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_justifications_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['operator_principal_id'], ['principals.id'], name=op.f('fk_justifications_operator_principal_id_principals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['principals.id'], name=op.f('fk_justifications_recorded_by_principals')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_justifications_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_justifications'))
    )
    op.create_index('ix_justifications_mailbox_expires', 'justifications', ['mailbox_id', 'expires_at'], unique=False)
    op.create_index('ix_justifications_tenant_created', 'justifications', ['tenant_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_justifications_tenant_created', table_name='justifications')
    op.drop_index('ix_justifications_mailbox_expires', table_name='justifications')
    op.drop_table('justifications')
