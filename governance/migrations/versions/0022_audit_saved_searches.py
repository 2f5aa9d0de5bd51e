"""audit: saved searches, named by each compliance manager and run again with one click

Revision ID: 0022
Revises: 0019
Create Date: 2027-01-22
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0022'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_saved_search',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('query', sa.String(length=2000), nullable=False),
        sa.Column('created_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], ondelete='CASCADE',
                                name=op.f('fk_audit_saved_search_owner_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_saved_search')),
        sa.UniqueConstraint('owner_id', 'name', name=op.f('uq_audit_saved_search_owner_id')),
    )
    with op.batch_alter_table('audit_saved_search', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_saved_search_owner_id'), ['owner_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_saved_search', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_saved_search_owner_id'))
    op.drop_table('audit_saved_search')
