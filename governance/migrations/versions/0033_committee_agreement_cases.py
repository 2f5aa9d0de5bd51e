"""committees: a case decides an access request or an agreement version (exactly one)

Revision ID: 0033
Revises: 0031
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0033'
down_revision = '0031'
branch_labels = None
depends_on = None

ONE_SUBJECT = (
    "(request_id IS NOT NULL AND agreement_id IS NULL AND version_number IS NULL) OR "
    "(request_id IS NULL AND agreement_id IS NOT NULL AND version_number IS NOT NULL)"
)


def upgrade() -> None:
    # Existing rows all name a request and no agreement version: they satisfy the check.
    with op.batch_alter_table('committee_case', schema=None) as batch_op:
        batch_op.alter_column('request_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('agreement_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('version_number', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_committee_case_agreement_id_agreement'), 'agreement', ['agreement_id'], ['id']
        )
        batch_op.create_unique_constraint(
            batch_op.f('uq_committee_case_agreement_id'), ['agreement_id', 'version_number']
        )
        batch_op.create_check_constraint('one_subject', ONE_SUBJECT)


def downgrade() -> None:
    # Agreement cases cannot be expressed without the columns: they go with them.
    op.execute("DELETE FROM committee_recusal WHERE case_id IN "
               "(SELECT id FROM committee_case WHERE request_id IS NULL)")
    op.execute("DELETE FROM committee_vote WHERE case_id IN "
               "(SELECT id FROM committee_case WHERE request_id IS NULL)")
    op.execute("DELETE FROM committee_case WHERE request_id IS NULL")
    with op.batch_alter_table('committee_case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_committee_case_one_subject'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_committee_case_agreement_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_committee_case_agreement_id_agreement'), type_='foreignkey')
        batch_op.drop_column('version_number')
        batch_op.drop_column('agreement_id')
        batch_op.alter_column('request_id', existing_type=sa.Integer(), nullable=False)
