"""audit trail format 2: signed head, checkpoint cadence, format boundary

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24

Events already stored stay format 1 and keep verifying as such: `format_since` is set to the
next event, which is the first of format 2. The boundary is unsigned until `governance init`
(run after every upgrade) or the next write records the `audit:upgrade` event, whose signed
checkpoint binds it (see governance/audit/format.py). Columns are added with plain
ALTER TABLE, never by recreating the tables, so the append-only triggers stay in place.

Downgrading drops the signatures' columns: the old code cannot verify format-2 events.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_head', sa.Column('cadence_events', sa.Integer(), nullable=True))
    op.add_column('audit_head', sa.Column('cadence_minutes', sa.Integer(), nullable=True))
    op.add_column('audit_head', sa.Column('format_since', sa.BigInteger(),
                                          server_default=sa.text('1'), nullable=False))
    op.add_column('audit_head', sa.Column('key_id', sa.String(length=16), nullable=True))
    op.add_column('audit_head', sa.Column('signature', sa.String(length=64), nullable=True))
    op.add_column('audit_checkpoint', sa.Column('cadence_events', sa.Integer(), nullable=True))
    op.add_column('audit_checkpoint', sa.Column('cadence_minutes', sa.Integer(), nullable=True))
    op.execute("UPDATE audit_head SET format_since = seq + 1")


def downgrade() -> None:
    op.drop_column('audit_checkpoint', 'cadence_minutes')
    op.drop_column('audit_checkpoint', 'cadence_events')
    op.drop_column('audit_head', 'signature')
    op.drop_column('audit_head', 'key_id')
    op.drop_column('audit_head', 'format_since')
    op.drop_column('audit_head', 'cadence_minutes')
    op.drop_column('audit_head', 'cadence_events')
