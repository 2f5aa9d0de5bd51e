"""dataset storage: destruction certificates and the versions they list

Revision ID: 0005
Revises: 0002 (re-chained after 0003/0004 when the branches are merged)
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0005'
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('destruction_certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=True),
    sa.Column('certified_by_id', sa.Integer(), nullable=True),
    sa.Column('certified_by', sa.String(length=320), nullable=False),
    sa.Column('certified_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['certified_by_id'], ['user_account.id'], name=op.f('fk_destruction_certificate_certified_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_destruction_certificate'))
    )
    with op.batch_alter_table('destruction_certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destruction_certificate_agreement_id'), ['agreement_id'], unique=False)

    op.create_table('destroyed_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('dataset_name', sa.String(length=200), nullable=False),
    sa.Column('provider_name', sa.String(length=200), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=False),
    sa.Column('stored_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('destroyed_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('file_removed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['destruction_certificate.id'], name=op.f('fk_destroyed_version_certificate_id_destruction_certificate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_destroyed_version_dataset_id_dataset')),
    sa.ForeignKeyConstraint(['version_id'], ['dataset_version.id'], name=op.f('fk_destroyed_version_version_id_dataset_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_destroyed_version')),
    sa.UniqueConstraint('version_id', name=op.f('uq_destroyed_version_version_id'))
    )
    with op.batch_alter_table('destroyed_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destroyed_version_certificate_id'), ['certificate_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('destroyed_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_destroyed_version_certificate_id'))

    op.drop_table('destroyed_version')
    with op.batch_alter_table('destruction_certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_destruction_certificate_agreement_id'))

    op.drop_table('destruction_certificate')
