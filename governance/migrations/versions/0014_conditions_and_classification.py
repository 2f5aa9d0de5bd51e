"""conditions at every read, classification snapshots, reclassification approvals, public files

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

Existing rows: a request's or grant's column takes its dataset column's classification now
(direct identifier if the column is gone: the most protected class); a grant's effective end
stays empty until the `grants.conditions` job computes it (its own end applies until then).
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0014'
down_revision = '0013'
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
    sa.Column('requested_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_label', sa.String(length=320), nullable=True),
    sa.Column('decided_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_column_reclassification_dataset_id_dataset')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_column_reclassification_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_column_reclassification_requested_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_column_reclassification'))
    )
    with op.batch_alter_table('column_reclassification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_column_reclassification_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index('ix_column_reclassification_status', ['status', 'dataset_id'], unique=False)

    # Plain ADD COLUMN (both databases have it), never a batch copy of the table: on SQLite a
    # copy drops the old access_grant, whose implicit DELETE would cascade to the grants'
    # columns. The server defaults fill the existing rows and stay (models declare them).
    op.add_column('access_grant', sa.Column(
        'effective_until', governance.kernel.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('access_grant', sa.Column('effective_clause', sa.String(length=60),
                                            nullable=False, server_default='access.valid_until'))
    op.add_column('access_grant', sa.Column('effective_reason', sa.Text(), nullable=False,
                                            server_default=''))
    op.create_index('ix_access_grant_effective', 'access_grant', ['status', 'effective_until'],
                    unique=False)
    for table in ('access_grant_column', 'access_request_column'):
        op.add_column(table, sa.Column('classification', sa.String(length=30), nullable=False,
                                       server_default='direct_identifier'))
    op.execute(SNAPSHOT.format(table='access_grant_column', parent='access_grant',
                               key='grant_id'))
    op.execute(SNAPSHOT.format(table='access_request_column', parent='access_request',
                               key='request_id'))

    op.add_column('output', sa.Column('public_pdf', sa.LargeBinary(), nullable=True))
    op.add_column('output', sa.Column('public_pdf_sha256', sa.String(length=64), nullable=True))
    op.add_column('output', sa.Column('public_csv', sa.LargeBinary(), nullable=True))
    op.add_column('output', sa.Column('public_csv_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the parent tables and cascade.
    for column in ('public_csv_sha256', 'public_csv', 'public_pdf_sha256', 'public_pdf'):
        op.drop_column('output', column)

    for table in ('access_request_column', 'access_grant_column'):
        op.drop_column(table, 'classification')
    op.drop_index('ix_access_grant_effective', table_name='access_grant')
    for column in ('effective_reason', 'effective_clause', 'effective_until'):
        op.drop_column('access_grant', column)

    with op.batch_alter_table('column_reclassification', schema=None) as batch_op:
        batch_op.drop_index('ix_column_reclassification_status')
        batch_op.drop_index(batch_op.f('ix_column_reclassification_dataset_id'))

    op.drop_table('column_reclassification')
