"""personal API tokens

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

Numbered 0010 with down_revision 0007: 0008 and 0009 are being written in parallel on other
branches; the lead re-chains the revisions when merging.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=8), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('last_used_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['user_account.id'], name=op.f('fk_api_token_revoked_by_id_user_account')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_api_token_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_api_token_secret_sha256'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
