"""compliance: audit periods and their access certification campaigns

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0020'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_period',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.Column('certify_by', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('certification_started_at', governance.kernel.types.UTCDateTime(),
                  nullable=True),
        sa.Column('closed_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('result', governance.kernel.types.JSONText(), nullable=False),
        sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'],
                                name=op.f('fk_audit_period_closed_by_id_user_account')),
        sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'],
                                name=op.f('fk_audit_period_owner_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_period')),
    )
    op.create_table(
        'certification_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('period_id', sa.Integer(), nullable=False),
        sa.Column('grant_id', sa.Integer(), nullable=False),
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=False),
        sa.Column('holder_id', sa.Integer(), nullable=False),
        sa.Column('columns_at_start', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('removed_columns', sa.Text(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('reminded_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'],
                                name=op.f('fk_certification_item_agreement_id_agreement')),
        sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'],
                                name=op.f('fk_certification_item_dataset_id_dataset')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'],
                                name=op.f('fk_certification_item_decided_by_id_user_account')),
        sa.ForeignKeyConstraint(['grant_id'], ['access_grant.id'],
                                name=op.f('fk_certification_item_grant_id_access_grant')),
        sa.ForeignKeyConstraint(['holder_id'], ['user_account.id'],
                                name=op.f('fk_certification_item_holder_id_user_account')),
        sa.ForeignKeyConstraint(['period_id'], ['audit_period.id'],
                                name=op.f('fk_certification_item_period_id_audit_period')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certification_item')),
        sa.UniqueConstraint('period_id', 'grant_id', name='uq_certification_item_grant'),
    )
    with op.batch_alter_table('certification_item', schema=None) as batch_op:
        batch_op.create_index('ix_certification_item_dataset', ['dataset_id', 'status'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_certification_item_period_id'), ['period_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('certification_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certification_item_period_id'))
        batch_op.drop_index('ix_certification_item_dataset')
    op.drop_table('certification_item')
    op.drop_table('audit_period')
