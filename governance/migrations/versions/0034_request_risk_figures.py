"""access: the re-identification figures computed for a request's quasi-identifiers;
agreements: the share of unique records above which a privacy officer approves too

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('access_request', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('risk_figures', governance.kernel.types.JSONText(), nullable=True)
        )
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_unique_share', sa.Float(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # In place (SQLite 3.35+): batch mode would copy and drop access_request, which the
        # committee cases' foreign keys refuse while foreign keys are enforced.
        op.execute('ALTER TABLE agreement_version DROP COLUMN max_unique_share')
        op.execute('ALTER TABLE access_request DROP COLUMN risk_figures')
        return
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.drop_column('max_unique_share')
    with op.batch_alter_table('access_request', schema=None) as batch_op:
        batch_op.drop_column('risk_figures')
