"""transparency: agreements the parties allow on the public data-use register (with a lay
summary), and RFC 3161 time-stamp tokens on the audit trail's signed checkpoints

Revision ID: 0032
Revises: 0021
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types
from governance.kernel import append_only

revision = '0032'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_register', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('lay_summary', sa.Text(), server_default='', nullable=False))
    op.create_table('audit_timestamp',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('token', sa.LargeBinary(), nullable=False),
    sa.Column('authority', sa.String(length=500), nullable=False),
    sa.Column('stamped_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_timestamp'))
    )
    # Witnessed heads are never edited or deleted through the service (PostgreSQL enforces it).
    append_only.create('audit_timestamp')


def downgrade() -> None:
    append_only.drop('audit_timestamp')
    op.drop_table('audit_timestamp')
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.drop_column('lay_summary')
        batch_op.drop_column('public_register')
