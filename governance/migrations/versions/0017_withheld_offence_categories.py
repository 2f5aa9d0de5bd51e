"""agreements: offence categories withheld from every reader (the row viewer, exports and the
analysis engine), distinct from the categories excluded from analyses only

Revision ID: 0017
Revises: 0016
Create Date: 2027-01-20

Existing agreement versions withhold nothing ("[]"): their exclusions were analysis-only, and
stay so.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withheld_offence_categories',
                                      governance.kernel.types.JSONText(), nullable=False,
                                      server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.drop_column('withheld_offence_categories')
