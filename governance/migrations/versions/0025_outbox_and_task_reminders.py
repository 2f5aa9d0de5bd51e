"""reminders: the mail outbox, the ledger of task notices and each person's digest choice

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0025'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mail_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('link', sa.String(length=500), nullable=False),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('delivery', sa.String(length=40), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=300), nullable=False),
        sa.Column('next_attempt_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('sent_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_outbox_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_outbox_recipient'), ['recipient'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_outbox_delivery'), ['delivery'], unique=False)
    op.create_table(
        'task_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('task_key', sa.String(length=300), nullable=False),
        sa.Column('kind', sa.String(length=200), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('link', sa.String(length=500), nullable=False),
        sa.Column('arrived_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('notice_sent_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('reminder_sent_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('overdue_sent_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('closed_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], ondelete='CASCADE',
                                name=op.f('fk_task_notice_owner_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_notice')),
        sa.UniqueConstraint('owner_id', 'task_key', name=op.f('uq_task_notice_owner_id')),
    )
    with op.batch_alter_table('task_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_notice_closed_at'), ['closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_notice_owner_id'), ['owner_id'], unique=False)
    op.create_table(
        'mail_preference',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=40), nullable=False),
        sa.Column('digest_sent_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ondelete='CASCADE',
                                name=op.f('fk_mail_preference_user_id_user_account')),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_mail_preference')),
    )


def downgrade() -> None:
    op.drop_table('mail_preference')
    with op.batch_alter_table('task_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_notice_owner_id'))
        batch_op.drop_index(batch_op.f('ix_task_notice_closed_at'))
    op.drop_table('task_notice')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_outbox_delivery'))
        batch_op.drop_index(batch_op.f('ix_mail_outbox_recipient'))
        batch_op.drop_index(batch_op.f('ix_mail_outbox_kind'))
    op.drop_table('mail_outbox')
