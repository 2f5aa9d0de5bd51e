"""agreements: the provider's countersignature (execution) of an approved version; datasets:
the subject area of their data, against which an agreement's cited laws are checked

Revision ID: 0018
Revises: 0022
Create Date: 2027-01-27

Agreements already approved or active were put in force before execution was recorded; they
keep their status and show no countersignature. Existing datasets are of subject area "other"
until a steward says otherwise.
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0018'
down_revision = '0022'
branch_labels = None
depends_on = None

_EXECUTION = (
    ('provider_signatory_name', sa.String(length=200)),
    ('provider_signatory_title', sa.String(length=200)),
    ('provider_signatory_organisation', sa.String(length=200)),
    ('signed_copy_reference', sa.String(length=200)),
    ('execution_recorded_by_label', sa.String(length=320)),
)


def upgrade() -> None:
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('executed_on', sa.Date(), nullable=True))
        for name, column_type in _EXECUTION:
            batch_op.add_column(sa.Column(name, column_type, nullable=True))
        batch_op.add_column(sa.Column('execution_recorded_at',
                                      governance.kernel.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_area', sa.String(length=40), nullable=False,
                                      server_default='other'))


def downgrade() -> None:
    with op.batch_alter_table('dataset', schema=None) as batch_op:
        batch_op.drop_column('subject_area')
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.drop_column('execution_recorded_at')
        for name, _type in reversed(_EXECUTION):
            batch_op.drop_column(name)
        batch_op.drop_column('executed_on')
