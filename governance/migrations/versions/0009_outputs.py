"""outputs: output checks, partner preview flags and publication

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

0008 is added in parallel on another branch; the lead re-chains the two on merge.
`output.run_id` has no foreign key yet: the analysis run table is built on another branch.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('output',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('agreement_version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('result', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('parts', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('disclosure', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('populations', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('csv', sa.LargeBinary(), nullable=False),
    sa.Column('csv_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('produced_by_id', sa.Integer(), nullable=True),
    sa.Column('produced_by_label', sa.String(length=320), nullable=False),
    sa.Column('contributors', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('produced_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revised_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('preview_opened_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('preview_closes_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cleared_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.Column('published_by_label', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_output_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['produced_by_id'], ['user_account.id'], name=op.f('fk_output_produced_by_id_user_account')),
    sa.ForeignKeyConstraint(['published_by_id'], ['user_account.id'], name=op.f('fk_output_published_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_output'))
    )
    with op.batch_alter_table('output', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_output_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_output_run_id'), ['run_id'], unique=False)
        batch_op.create_index('ix_output_status', ['status', 'preview_closes_at'], unique=False)

    op.create_table('output_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('output_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('checker_id', sa.Integer(), nullable=True),
    sa.Column('checker_label', sa.String(length=320), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('checked_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checker_id'], ['user_account.id'], name=op.f('fk_output_check_checker_id_user_account')),
    sa.ForeignKeyConstraint(['output_id'], ['output.id'], name=op.f('fk_output_check_output_id_output'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_output_check'))
    )
    with op.batch_alter_table('output_check', schema=None) as batch_op:
        batch_op.create_index('ix_output_check_output', ['output_id', 'revision'], unique=False)

    op.create_table('output_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('output_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('raised_by_id', sa.Integer(), nullable=True),
    sa.Column('raised_by_label', sa.String(length=320), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('part', sa.String(length=120), nullable=False),
    sa.Column('part_label', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('raised_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.String(length=20), nullable=True),
    sa.Column('answer_text', sa.Text(), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_by_label', sa.String(length=320), nullable=True),
    sa.Column('answered_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('accepted_by_label', sa.String(length=320), nullable=True),
    sa.Column('accepted_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=40), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['user_account.id'], name=op.f('fk_output_flag_accepted_by_id_user_account')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['user_account.id'], name=op.f('fk_output_flag_answered_by_id_user_account')),
    sa.ForeignKeyConstraint(['output_id'], ['output.id'], name=op.f('fk_output_flag_output_id_output'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['raised_by_id'], ['user_account.id'], name=op.f('fk_output_flag_raised_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_output_flag'))
    )
    with op.batch_alter_table('output_flag', schema=None) as batch_op:
        batch_op.create_index('ix_output_flag_output', ['output_id', 'accepted_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('output_flag', schema=None) as batch_op:
        batch_op.drop_index('ix_output_flag_output')

    op.drop_table('output_flag')
    with op.batch_alter_table('output_check', schema=None) as batch_op:
        batch_op.drop_index('ix_output_check_output')

    op.drop_table('output_check')
    with op.batch_alter_table('output', schema=None) as batch_op:
        batch_op.drop_index('ix_output_status')
        batch_op.drop_index(batch_op.f('ix_output_run_id'))
        batch_op.drop_index(batch_op.f('ix_output_agreement_id'))

    op.drop_table('output')
