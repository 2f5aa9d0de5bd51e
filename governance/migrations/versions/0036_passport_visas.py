"""passport: every GA4GH visa issued (its jti, holder, grant, signing key and expiry), for the
visa status endpoint and for dropping retired signing keys once their visas have expired

Revision ID: 0036
Revises: 0034
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'passport_visa',
        sa.Column('jti', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('grant_id', sa.Integer(), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('issued_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.Column('expires_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['grant_id'], ['access_grant.id'], name=op.f('fk_passport_visa_grant_id_access_grant')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_passport_visa_user_id_user_account')),
        sa.PrimaryKeyConstraint('jti', name=op.f('pk_passport_visa')),
    )
    op.create_index('ix_passport_visa_grant', 'passport_visa', ['grant_id'], unique=False)
    op.create_index('ix_passport_visa_key', 'passport_visa', ['key_id', 'expires_at'], unique=False)
    op.create_index('ix_passport_visa_user', 'passport_visa', ['user_id', 'issued_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_passport_visa_user', table_name='passport_visa')
    op.drop_index('ix_passport_visa_key', table_name='passport_visa')
    op.drop_index('ix_passport_visa_grant', table_name='passport_visa')
    op.drop_table('passport_visa')
