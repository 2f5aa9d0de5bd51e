"""conditions at every read, classification snapshots, reclassification approvals, public files

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-04

Numbered 0014 with down_revision 0010: other branches add 0011 to 0013 in parallel; the lead
re-chains the revisions when merging.

Existing rows: a request's or grant's column takes its dataset column's classification now
(direct identifier if the column is gone: the most protected class); a grant's effective end
stays empty until the `grants.conditions` job computes it (its own end applies until then).
"""

from alembic import op
import sqlalchemy as sa
import governance.models.types


revision = '0014'
down_revision = '0010'
branch_labels = None
depends_on = None

SNAPSHOT = """
UPDATE {table} SET classification = COALESCE((
    SELECT dc.classification FROM dataset_column dc JOIN {parent} p ON p.dataset_id = dc.dataset_id
    WHERE p.id = {table}.{key} AND dc.name = {table}.column_name), 'direct_identifier')
"""


def upgrade() -> None:
    op.create_table('column_reclassification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('column_name', sa.String(length=120), nullable=False),
    sa.Column('from_classification', sa.String(length=30), nullable=False),
    sa.Column('to_classification', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_by_label', sa.String(length=320), nullable=False),
    sa.Column('requested_at', governance.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_label', sa.String(length=320), nullable=True),
    sa.Column('decided_at', governance.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_column_reclassification_dataset_id_dataset')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_column_reclassification_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_column_reclassification_requested_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_column_reclassification'))
    )
    with op.batch_alter_table('column_reclassification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_column_reclassification_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index('ix_column_reclassification_status', ['status', 'dataset_id'], unique=False)

    with op.batch_alter_table('access_grant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_until', governance.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('effective_clause', sa.String(length=60), nullable=False,
                                      server_default='access.valid_until'))
        batch_op.add_column(sa.Column('effective_reason', sa.Text(), nullable=False,
                                      server_default=''))
    for table in ('access_grant_column', 'access_request_column'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('classification', sa.String(length=30), nullable=False,
                                          server_default='direct_identifier'))
    op.execute(SNAPSHOT.format(table='access_grant_column', parent='access_grant',
                               key='grant_id'))
    op.execute(SNAPSHOT.format(table='access_request_column', parent='access_request',
                               key='request_id'))
    # The defaults only filled the existing rows: the application always writes these.
    with op.batch_alter_table('access_grant', schema=None) as batch_op:
        batch_op.alter_column('effective_clause', server_default=None)
        batch_op.alter_column('effective_reason', server_default=None)
    for table in ('access_grant_column', 'access_request_column'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('classification', server_default=None)

    with op.batch_alter_table('output', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_pdf', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('public_pdf_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('public_csv', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('public_csv_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('output', schema=None) as batch_op:
        batch_op.drop_column('public_csv_sha256')
        batch_op.drop_column('public_csv')
        batch_op.drop_column('public_pdf_sha256')
        batch_op.drop_column('public_pdf')

    with op.batch_alter_table('access_request_column', schema=None) as batch_op:
        batch_op.drop_column('classification')

    with op.batch_alter_table('access_grant_column', schema=None) as batch_op:
        batch_op.drop_column('classification')

    with op.batch_alter_table('access_grant', schema=None) as batch_op:
        batch_op.drop_column('effective_reason')
        batch_op.drop_column('effective_clause')
        batch_op.drop_column('effective_until')

    with op.batch_alter_table('column_reclassification', schema=None) as batch_op:
        batch_op.drop_index('ix_column_reclassification_status')
        batch_op.drop_index(batch_op.f('ix_column_reclassification_dataset_id'))

    op.drop_table('column_reclassification')
