"""analysis: probabilistic linkage's report and clerical review queue; agreements: the lowest
match probability at which linkage may accept a pair

Revision ID: 0031
Revises: 0029
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0031'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('linkage_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('report', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], name=op.f('fk_linkage_report_run_id_analysis_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkage_report')),
    sa.UniqueConstraint('run_id', name=op.f('uq_linkage_report_run_id'))
    )
    op.create_table('linkage_review_pair',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('cohort_row', sa.Integer(), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('match_weight', sa.Float(), nullable=False),
    sa.Column('match_probability', sa.Float(), nullable=False),
    sa.Column('why', sa.String(length=120), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_linkage_review_pair_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_linkage_review_pair_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], name=op.f('fk_linkage_review_pair_run_id_analysis_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linkage_review_pair')),
    sa.UniqueConstraint('run_id', 'cohort_row', name=op.f('uq_linkage_review_pair_run_id'))
    )
    with op.batch_alter_table('linkage_review_pair', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linkage_review_pair_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_link_probability', sa.Float(), nullable=False, server_default='0.95'))


def downgrade() -> None:
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.drop_column('min_link_probability')
    with op.batch_alter_table('linkage_review_pair', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linkage_review_pair_run_id'))
    op.drop_table('linkage_review_pair')
    op.drop_table('linkage_report')
