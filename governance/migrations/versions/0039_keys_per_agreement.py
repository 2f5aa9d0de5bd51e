"""datasets: a version's file key wrapped per covering agreement (crypto-shredding on close);
agreements: the destroyed agreement keys and wraps a destruction certificate names

Revision ID: 0039
Revises: 0034
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0039'
down_revision = '0036'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'version_key_wrap',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=False),
        sa.Column('agreement_key_id', sa.String(length=16), nullable=False),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['version_id'],
            ['dataset_version.id'],
            name=op.f('fk_version_key_wrap_version_id_dataset_version'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_version_key_wrap')),
        sa.UniqueConstraint(
            'version_id', 'agreement_id', name=op.f('uq_version_key_wrap_version_id')
        ),
    )
    with op.batch_alter_table('version_key_wrap', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_version_key_wrap_agreement_id'), ['agreement_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_version_key_wrap_version_id'), ['version_id'], unique=False
        )
    op.create_table(
        'destroyed_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('certificate_id', sa.Integer(), nullable=False),
        sa.Column('agreement_key_id', sa.String(length=16), nullable=False),
        sa.Column('agreement_key_fingerprint', sa.String(length=64), nullable=False),
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('version_number', sa.Integer(), nullable=False),
        sa.Column('wrap_fingerprint', sa.String(length=64), nullable=False),
        sa.Column('version_destroyed', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ['certificate_id'],
            ['destruction_certificate.id'],
            name=op.f('fk_destroyed_key_certificate_id_destruction_certificate'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_destroyed_key')),
    )
    with op.batch_alter_table('destroyed_key', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_destroyed_key_certificate_id'), ['certificate_id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('destroyed_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_destroyed_key_certificate_id'))
    op.drop_table('destroyed_key')
    with op.batch_alter_table('version_key_wrap', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_version_key_wrap_version_id'))
        batch_op.drop_index(batch_op.f('ix_version_key_wrap_agreement_id'))
    op.drop_table('version_key_wrap')
