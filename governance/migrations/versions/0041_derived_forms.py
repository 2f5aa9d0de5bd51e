"""agreements: the forms (coarsened, pseudonymised, both, none) a column may be granted in
instead of its stored values (`access.derived_forms`); existing versions keep what they had
(both), which the privacy officer sees in the clause list and may narrow by amendment

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0041'
down_revision = '0040'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('derived_forms', sa.String(length=20), server_default='both', nullable=False)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # In place (SQLite 3.35+), like 0034: no table copy under other tables' foreign keys.
        op.execute('ALTER TABLE agreement_version DROP COLUMN derived_forms')
        return
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.drop_column('derived_forms')
