"""analysis runs, partner cohort files and the released-population ledger

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cohort_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('source_filename', sa.String(length=255), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_name', sa.String(length=200), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('destroyed_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_cohort_file_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['provider_id'], ['organization.id'], name=op.f('fk_cohort_file_provider_id_organization')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_cohort_file_uploaded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort_file'))
    )
    with op.batch_alter_table('cohort_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_file_agreement_id'), ['agreement_id'], unique=False)

    op.create_table('analysis_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('agreement_version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('parameters', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('datasets', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('cohort_file_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('progress_message', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enqueued_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('worker_id', sa.String(length=120), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('clause', sa.String(length=80), nullable=True),
    sa.Column('result', governance.kernel.types.JSONText(), nullable=True),
    sa.Column('provenance', governance.kernel.types.JSONText(), nullable=True),
    sa.Column('report_pdf', sa.LargeBinary(), nullable=True),
    sa.Column('report_sha256', sa.String(length=64), nullable=True),
    sa.Column('report_csv', sa.LargeBinary(), nullable=True),
    sa.Column('csv_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_analysis_run_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['cohort_file_id'], ['cohort_file.id'], name=op.f('fk_analysis_run_cohort_file_id_cohort_file')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_analysis_run_requested_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analysis_run'))
    )
    with op.batch_alter_table('analysis_run', schema=None) as batch_op:
        batch_op.create_index('ix_analysis_run_agreement', ['agreement_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_analysis_run_requested_by_id'), ['requested_by_id'], unique=False)
        batch_op.create_index('ix_analysis_run_status', ['status', 'heartbeat_at'], unique=False)

    op.create_table('released_population',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('output_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('member_hashes', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['analysis_run.id'], name=op.f('fk_released_population_run_id_analysis_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_released_population'))
    )
    with op.batch_alter_table('released_population', schema=None) as batch_op:
        batch_op.create_index('ix_released_population_agreement', ['agreement_id', 'run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('released_population', schema=None) as batch_op:
        batch_op.drop_index('ix_released_population_agreement')

    op.drop_table('released_population')
    with op.batch_alter_table('analysis_run', schema=None) as batch_op:
        batch_op.drop_index('ix_analysis_run_status')
        batch_op.drop_index(batch_op.f('ix_analysis_run_requested_by_id'))
        batch_op.drop_index('ix_analysis_run_agreement')

    op.drop_table('analysis_run')
    with op.batch_alter_table('cohort_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_file_agreement_id'))

    op.drop_table('cohort_file')
