"""released_population: each member's outcomes, for the cell-by-cell check

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-07

Two rate tables over populations 30 people apart in a cell, one released now and one later,
give by subtraction how many of those 30 had the outcome. Each population now keeps, per outcome
its tables publish a count of, each member's 0/1 (one bit, member-hash order), sealed under the
ledger key, so a later release is checked on outcomes too (docs/decisions/analysis-ledger.md).
Rows recorded before keep none and are compared on people only: their outcomes cannot be
recovered.
"""

import sqlalchemy as sa
from alembic import op

revision = '0047'
down_revision = '0046'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('released_population') as batch:
        batch.add_column(sa.Column('cell_events', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('released_population') as batch:
        batch.drop_column('cell_events')
