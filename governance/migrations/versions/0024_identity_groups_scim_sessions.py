"""identity: group mappings to roles and organisations, and the roles they granted; SCIM
tokens, identities and groups; local passwords switched off per organisation

Revision ID: 0024
Revises: 0017
Create Date: 2026-12-04

No mapping exists after the upgrade, so nobody's roles change until an administrator maps a
group; every organisation keeps local passwords until an administrator switches them off.
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

    op.create_table('scim_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=8), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_by', sa.String(length=320), nullable=True),
    sa.Column('revoked_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_token')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_scim_token_secret_sha256'))
    )

    op.create_table('scim_identity',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('user_name', sa.String(length=256), nullable=False),
    sa.Column('external_id', sa.String(length=256), nullable=True),
    sa.Column('updated_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deactivated_by_scim', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_scim_identity_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_scim_identity')),
    sa.UniqueConstraint('user_name', name=op.f('uq_scim_identity_user_name'))
    )

    op.create_table('scim_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=256), nullable=False),
    sa.Column('external_id', sa.String(length=256), nullable=True),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_group')),
    sa.UniqueConstraint('display_name', name=op.f('uq_scim_group_display_name'))
    )

    op.create_table('scim_group_member',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['scim_group.id'], name=op.f('fk_scim_group_member_group_id_scim_group'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_scim_group_member_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'user_id', name=op.f('pk_scim_group_member'))
    )
    with op.batch_alter_table('scim_group_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_group_member_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('local_passwords', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('local_passwords')

    with op.batch_alter_table('scim_group_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_group_member_user_id'))
    op.drop_table('scim_group_member')
    op.drop_table('scim_group')
    op.drop_table('scim_identity')
    op.drop_table('scim_token')
    op.drop_table('external_role')
    with op.batch_alter_table('group_mapping', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_mapping_source'))
    op.drop_table('group_mapping')
