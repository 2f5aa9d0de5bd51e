"""access: the form (coarsened, pseudonymised) a column is approved and granted in, and the
data key id a pseudonym's secret is derived from

Revision ID: 0040
Revises: 0034
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0040'
down_revision = '0039'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('access_request_column', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form', sa.String(length=20), nullable=True))
    with op.batch_alter_table('access_grant_column', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('form_key_id', sa.String(length=16), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # In place (SQLite 3.35+), like 0034: no table copy under other tables' foreign keys.
        op.execute('ALTER TABLE access_grant_column DROP COLUMN form_key_id')
        op.execute('ALTER TABLE access_grant_column DROP COLUMN form')
        op.execute('ALTER TABLE access_request_column DROP COLUMN form')
        return
    with op.batch_alter_table('access_grant_column', schema=None) as batch_op:
        batch_op.drop_column('form_key_id')
        batch_op.drop_column('form')
    with op.batch_alter_table('access_request_column', schema=None) as batch_op:
        batch_op.drop_column('form')
