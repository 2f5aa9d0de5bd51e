"""identity: group mappings to roles and organisations, and the roles they granted

Revision ID: 0024
Revises: 0017
Create Date: 2026-12-04

No mapping exists after the upgrade, so nobody's roles change until an administrator maps a
group.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0024'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('group_mapping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('external_group', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=320), nullable=True),
    sa.Column('approved_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_group_mapping_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_group_mapping_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_mapping')),
    sa.UniqueConstraint('source', 'external_group', 'role', 'organization_id', name=op.f('uq_group_mapping_source'))
    )
    with op.batch_alter_table('group_mapping', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_mapping_source'), ['source'], unique=False)

    op.create_table('external_role',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('granted_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_external_role_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', 'source', name=op.f('pk_external_role'))
    )


def downgrade() -> None:
    op.drop_table('external_role')
    with op.batch_alter_table('group_mapping', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_mapping_source'))
    op.drop_table('group_mapping')
