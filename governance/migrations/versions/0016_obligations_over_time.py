"""obligations over time: acceptance of each version, ethics approvals, attestations,
incidents with their notification clocks, and the agreement terms that set them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

Existing versions ask for none of the new obligations (no acceptance, attestation or ethics
approval required, no provider notice period) and name no legal basis: their grants keep
working as agreed, and an amendment adds them (an amendment citing a law that asks for a legal
basis must name it).
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

UTC = governance.kernel.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of agreement_version on SQLite would cascade to its rows.
    op.add_column('agreement_version', sa.Column('acceptance_required', sa.Boolean(),
                                                 nullable=False, server_default=sa.false()))
    op.add_column('agreement_version', sa.Column('attestation_months', sa.Integer(),
                                                 nullable=True))
    op.add_column('agreement_version', sa.Column('ethics_required', sa.Boolean(),
                                                 nullable=False, server_default=sa.false()))
    op.add_column('agreement_version', sa.Column('provider_notice_hours', sa.Integer(),
                                                 nullable=True))
    op.add_column('agreement_version', sa.Column('progress_months', sa.Integer(),
                                                 nullable=True))
    op.add_column('agreement_version', sa.Column('legal_bases',
                                                 governance.kernel.types.JSONText(),
                                                 nullable=False, server_default='{}'))

    op.create_table('agreement_acceptance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('terms_sha256', sa.String(length=64), nullable=False),
    sa.Column('accepted_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_agreement_acceptance_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_agreement_acceptance_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_acceptance'))
    )
    op.create_index('ix_agreement_acceptance_person', 'agreement_acceptance',
                    ['user_id', 'agreement_id'], unique=False)

    op.create_table('ethics_approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('board', sa.String(length=200), nullable=False),
    sa.Column('reference', sa.String(length=120), nullable=False),
    sa.Column('approved_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('protocol', sa.Text(), nullable=False),
    sa.Column('amends_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_label', sa.String(length=320), nullable=False),
    sa.Column('recorded_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_ethics_approval_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['amends_id'], ['ethics_approval.id'], name=op.f('fk_ethics_approval_amends_id_ethics_approval')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_ethics_approval_recorded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ethics_approval'))
    )
    op.create_index(op.f('ix_ethics_approval_agreement_id'), 'ethics_approval', ['agreement_id'],
                    unique=False)

    op.create_table('attestation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('attested_at', UTC, nullable=False),
    sa.Column('still_needed', sa.Boolean(), nullable=False),
    sa.Column('kept_terms', sa.Boolean(), nullable=False),
    sa.Column('copies_outside', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_attestation_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_attestation_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attestation'))
    )
    op.create_index('ix_attestation_person', 'attestation', ['user_id', 'agreement_id'],
                    unique=False)

    op.create_table('attestation_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('sent_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_attestation_reminder_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_attestation_reminder_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attestation_reminder')),
    sa.UniqueConstraint('user_id', 'agreement_id', 'due_on', name=op.f('uq_attestation_reminder_user_id'))
    )

    op.create_table('progress_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('work_done', sa.Text(), nullable=False),
    sa.Column('team_changes', sa.Text(), nullable=False),
    sa.Column('output_ids', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=False),
    sa.Column('submitted_at', UTC, nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTC, nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_progress_report_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_progress_report_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user_account.id'], name=op.f('fk_progress_report_submitted_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_report'))
    )
    op.create_index('ix_progress_report_agreement', 'progress_report',
                    ['agreement_id', 'period_end'], unique=False)

    op.create_table('incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reported_by_id', sa.Integer(), nullable=True),
    sa.Column('reported_by_label', sa.String(length=320), nullable=False),
    sa.Column('reported_at', UTC, nullable=False),
    sa.Column('user_ids', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('dataset_ids', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('output_ids', governance.kernel.types.JSONText(), nullable=False),
    sa.Column('frozen_at', UTC, nullable=True),
    sa.Column('frozen_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', UTC, nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('root_cause', sa.Text(), nullable=False),
    sa.Column('actions_taken', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'], name=op.f('fk_incident_closed_by_id_user_account')),
    sa.ForeignKeyConstraint(['frozen_by_id'], ['user_account.id'], name=op.f('fk_incident_frozen_by_id_user_account')),
    sa.ForeignKeyConstraint(['reported_by_id'], ['user_account.id'], name=op.f('fk_incident_reported_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident'))
    )
    op.create_index('ix_incident_status', 'incident', ['status', 'frozen_at'], unique=False)

    op.create_table('incident_agreement',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_incident_agreement_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_agreement_incident_id_incident'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'agreement_id', name=op.f('pk_incident_agreement'))
    )
    op.create_index(op.f('ix_incident_agreement_agreement_id'), 'incident_agreement',
                    ['agreement_id'], unique=False)

    op.create_table('incident_clock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('due_at', UTC, nullable=False),
    sa.Column('sent_at', UTC, nullable=True),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', UTC, nullable=True),
    sa.Column('reminded_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_incident_clock_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_clock_incident_id_incident'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sent_by_id'], ['user_account.id'], name=op.f('fk_incident_clock_sent_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_clock'))
    )
    op.create_index(op.f('ix_incident_clock_incident_id'), 'incident_clock', ['incident_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_incident_clock_incident_id'), table_name='incident_clock')
    op.drop_table('incident_clock')
    op.drop_index(op.f('ix_incident_agreement_agreement_id'), table_name='incident_agreement')
    op.drop_table('incident_agreement')
    op.drop_index('ix_incident_status', table_name='incident')
    op.drop_table('incident')
    op.drop_index('ix_progress_report_agreement', table_name='progress_report')
    op.drop_table('progress_report')
    op.drop_table('attestation_reminder')
    op.drop_index('ix_attestation_person', table_name='attestation')
    op.drop_table('attestation')
    op.drop_index(op.f('ix_ethics_approval_agreement_id'), table_name='ethics_approval')
    op.drop_table('ethics_approval')
    op.drop_index('ix_agreement_acceptance_person', table_name='agreement_acceptance')
    op.drop_table('agreement_acceptance')
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the table and cascade.
    for column in ('progress_months', 'legal_bases', 'provider_notice_hours', 'ethics_required', 'attestation_months',
                   'acceptance_required'):
        op.drop_column('agreement_version', column)
