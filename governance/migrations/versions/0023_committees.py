"""committees: data access committees, their members, the subjects they decide for, their
cases, votes and recusals; the committee an access request waits on

Revision ID: 0023
Revises: 0032
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0023'
down_revision = '0032'
branch_labels = None
depends_on = None

UTC = governance.kernel.types.UTCDateTime
JSON = governance.kernel.types.JSONText


def upgrade() -> None:
    op.create_table(
        'committee',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('rule', sa.String(length=20), nullable=False),
        sa.Column('quorum', sa.Integer(), nullable=True),
        sa.Column('chair_casting_vote', sa.Boolean(), nullable=False),
        sa.Column('decision_days', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'],
                                name=op.f('fk_committee_organization_id_organization')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_committee')),
        sa.UniqueConstraint('name', name=op.f('uq_committee_name')),
    )
    with op.batch_alter_table('committee', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_committee_organization_id'), ['organization_id'],
                              unique=False)
    op.create_table(
        'committee_member',
        sa.Column('committee_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('added_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['committee_id'], ['committee.id'], ondelete='CASCADE',
                                name=op.f('fk_committee_member_committee_id_committee')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_committee_member_user_id_user_account')),
        sa.PrimaryKeyConstraint('committee_id', 'user_id', name=op.f('pk_committee_member')),
    )
    op.create_table(
        'committee_assignment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('committee_id', sa.Integer(), nullable=False),
        sa.Column('subject_type', sa.String(length=20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['committee_id'], ['committee.id'],
                                name=op.f('fk_committee_assignment_committee_id_committee')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_committee_assignment')),
        sa.UniqueConstraint('subject_type', 'subject_id',
                            name=op.f('uq_committee_assignment_subject_type')),
    )
    with op.batch_alter_table('committee_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_committee_assignment_committee_id'),
                              ['committee_id'], unique=False)
    op.create_table(
        'committee_case',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('committee_id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('opened_at', UTC(), nullable=False),
        sa.Column('deadline', UTC(), nullable=False),
        sa.Column('decision', sa.String(length=20), nullable=True),
        sa.Column('decided_at', UTC(), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_alone', sa.Boolean(), nullable=False),
        sa.Column('decision_reason', sa.Text(), nullable=False),
        sa.Column('conditions', JSON(), nullable=False),
        sa.ForeignKeyConstraint(['committee_id'], ['committee.id'],
                                name=op.f('fk_committee_case_committee_id_committee')),
        sa.ForeignKeyConstraint(['request_id'], ['access_request.id'],
                                name=op.f('fk_committee_case_request_id_access_request')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'],
                                name=op.f('fk_committee_case_decided_by_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_committee_case')),
        sa.UniqueConstraint('request_id', name=op.f('uq_committee_case_request_id')),
    )
    with op.batch_alter_table('committee_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_committee_case_committee_id'), ['committee_id'],
                              unique=False)
    op.create_table(
        'committee_vote',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('voter_id', sa.Integer(), nullable=False),
        sa.Column('vote', sa.String(length=30), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('conditions', JSON(), nullable=False),
        sa.Column('cast_at', UTC(), nullable=False),
        sa.Column('superseded_at', UTC(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['committee_case.id'],
                                name=op.f('fk_committee_vote_case_id_committee_case')),
        sa.ForeignKeyConstraint(['voter_id'], ['user_account.id'],
                                name=op.f('fk_committee_vote_voter_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_committee_vote')),
    )
    with op.batch_alter_table('committee_vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_committee_vote_case_id'), ['case_id'], unique=False)
    op.create_table(
        'committee_recusal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('declared_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['committee_case.id'],
                                name=op.f('fk_committee_recusal_case_id_committee_case')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_committee_recusal_user_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_committee_recusal')),
        sa.UniqueConstraint('case_id', 'user_id', name=op.f('uq_committee_recusal_case_id')),
    )
    with op.batch_alter_table('committee_recusal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_committee_recusal_case_id'), ['case_id'],
                              unique=False)
    with op.batch_alter_table('access_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('committee_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    for table, index in (
        ('committee_recusal', 'ix_committee_recusal_case_id'),
        ('committee_vote', 'ix_committee_vote_case_id'),
        ('committee_case', 'ix_committee_case_committee_id'),
        ('committee_assignment', 'ix_committee_assignment_committee_id'),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(index))
        op.drop_table(table)
    op.drop_table('committee_member')
    with op.batch_alter_table('committee', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_committee_organization_id'))
    op.drop_table('committee')
    with op.batch_alter_table('access_request', schema=None) as batch_op:
        batch_op.drop_column('committee_id')
