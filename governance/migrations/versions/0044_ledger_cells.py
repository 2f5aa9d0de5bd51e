"""released_population: which cell of the release's tables each member is in

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07

Two releases over populations far apart could still be subtracted cell by cell (everyone, and
everyone but one offence category). Each population now keeps, beside its keyed member hashes,
each member's level of every dimension its tables are grouped by, so a later release is
checked cell by cell (docs/decisions/analysis-ledger.md). Rows recorded before keep none and
are compared as whole populations, as before: their cells cannot be recovered.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0044'
down_revision = '0043'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('released_population') as batch:
        batch.add_column(sa.Column('cell_dimensions', governance.kernel.types.JSONText(), nullable=True))
        batch.add_column(sa.Column('cell_levels', governance.kernel.types.JSONText(), nullable=True))
        batch.add_column(sa.Column('cell_codes', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('released_population') as batch:
        batch.drop_column('cell_codes')
        batch.drop_column('cell_levels')
        batch.drop_column('cell_dimensions')
