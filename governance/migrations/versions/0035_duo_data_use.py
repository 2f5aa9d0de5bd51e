"""datasets: data-use conditions as GA4GH DUO terms; access: a request's purpose as DUO terms

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('data_use', governance.kernel.types.JSONText(), nullable=True)
        )
    with op.batch_alter_table('access_request', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('data_use', governance.kernel.types.JSONText(), nullable=True)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # In place (SQLite 3.35+): batch mode would copy and drop tables that other tables'
        # foreign keys refer to while foreign keys are enforced.
        op.execute('ALTER TABLE access_request DROP COLUMN data_use')
        op.execute('ALTER TABLE dataset DROP COLUMN data_use')
        return
    with op.batch_alter_table('access_request', schema=None) as batch_op:
        batch_op.drop_column('data_use')
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.drop_column('data_use')
