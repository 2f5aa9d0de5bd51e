"""datasets: dataset versions record their storage format (Parquet modular encryption or the
earlier whole-file format) and their content hash

Revision ID: 0029
Revises: 0026
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('storage_format', sa.String(length=8), server_default='gde1', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.drop_column('storage_format')
        batch_op.drop_column('content_sha256')
