"""dataset_column.lowest_value: the lowest value a number column can hold, declared by a steward

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-07

Under rounding a released mean is origin + S' / p, S' the sum of (x - origin). The origin was
the lowest value of the table a run was handed, so two stored versions (or two data sets) whose
lowest values differ gave one group's mean from two origins, and the difference of the two
means gave the exact count. The origin is now a declared property of the column, the same for
every version; columns start with none (a mean of one under rounding is refused until a steward
declares it: datasets/lowest_values.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dataset_column", sa.Column("lowest_value", sa.Float(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), as 0050: a batch copy would cascade.
    op.drop_column("dataset_column", "lowest_value")
