"""server-side sessions, single-use account links, role changes, the lockout's window

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

Existing signed cookies name no server-side session, so everyone
signs in again after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=320), nullable=False),
    sa.Column('closed_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_account_link_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_link')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_account_link_secret_sha256'))
    )
    with op.batch_alter_table('account_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_link_user_id'), ['user_id'], unique=False)

    op.create_table('role_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_by', sa.String(length=320), nullable=False),
    sa.Column('requested_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.String(length=320), nullable=True),
    sa.Column('decided_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_role_change_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_role_change_requested_by_id_user_account')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_role_change_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_change'))
    )
    with op.batch_alter_table('role_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_role_change_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_role_change_user_id'), ['user_id'], unique=False)

    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('authenticated_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=40), nullable=True),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_user_session_secret_sha256'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_login_since', governance.kernel.types.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('failed_login_since')

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))

    op.drop_table('user_session')
    with op.batch_alter_table('role_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_change_user_id'))
        batch_op.drop_index(batch_op.f('ix_role_change_status'))

    op.drop_table('role_change')
    with op.batch_alter_table('account_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_link_user_id'))

    op.drop_table('account_link')
