"""agreements: attachments stored encrypted (signed scans, ethics letters, protocols, data
management plans, destruction attestations), the final progress report, and the ethics
approval's approved protocol document

Revision ID: 0019
Revises: 0024
Create Date: 2026-12-04

Existing progress reports are not final; existing ethics approvals name no protocol document.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0019'
down_revision = '0024'
branch_labels = None
depends_on = None

UTC = governance.kernel.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('agreement_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('attesting_user_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', UTC, nullable=False),
    sa.Column('storage_name', sa.String(length=200), nullable=False),
    sa.Column('file_id', sa.String(length=32), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('wrapping_key_id', sa.String(length=16), nullable=True),
    sa.Column('destroyed_at', UTC, nullable=True),
    sa.Column('certificate_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_agreement_attachment_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['attesting_user_id'], ['user_account.id'], name=op.f('fk_agreement_attachment_attesting_user_id_user_account')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_agreement_attachment_uploaded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_attachment')),
    sa.UniqueConstraint('agreement_id', 'kind', 'title', 'version', name=op.f('uq_agreement_attachment_agreement_id'))
    )
    op.create_index(op.f('ix_agreement_attachment_agreement_id'), 'agreement_attachment',
                    ['agreement_id'], unique=False)
    op.add_column('progress_report', sa.Column('final', sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    op.add_column('ethics_approval', sa.Column('protocol_attachment_id', sa.Integer(),
                                               nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ethics_approval', schema=None) as batch_op:
        batch_op.drop_column('protocol_attachment_id')
    with op.batch_alter_table('progress_report', schema=None) as batch_op:
        batch_op.drop_column('final')
    op.drop_index(op.f('ix_agreement_attachment_agreement_id'), table_name='agreement_attachment')
    op.drop_table('agreement_attachment')
