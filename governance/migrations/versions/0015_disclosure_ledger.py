"""disclosure: one differencing ledger per dataset under a keyed hash, agreement terms for the
protection interval and the balance ceiling, value labels of dataset columns

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-10

Existing ledger rows were written per agreement, with 64-bit member hashes under a salt derived
from the data key and the agreement id. They cannot be re-keyed without the people's keys, which
the ledger never kept, so they are migrated as "legacy-digest" rows: each is moved to the
dataset whose people it describes (the run's `records` or `index_events` table), keeps its
size and its digest (SHA-256 of the sorted person keys), and loses its member hashes. New
populations are compared with them conservatively: identical populations (same digest) pass,
and any other population within min_cell_size - 1 people of a legacy row's size is refused as
a possible conflict (docs/decisions/analysis-ledger.md).
"""

import json

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

PERSON_TABLES = {"matched_comparison": "index_events"}


def upgrade() -> None:
    with op.batch_alter_table('released_population', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dataset_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('scheme', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('key_fingerprint', sa.String(length=16), nullable=True))
        batch_op.alter_column('member_hashes', existing_type=sa.LargeBinary(), nullable=True)

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT p.id, r.kind, r.datasets FROM released_population p "
        "JOIN analysis_run r ON r.id = p.run_id")).all()
    for row_id, kind, datasets in rows:
        tables = json.loads(datasets) if datasets else {}
        dataset_id = tables.get(PERSON_TABLES.get(kind, "records"))
        if dataset_id is None:
            dataset_id = next(iter(tables.values()), None)
        if dataset_id is None:
            bind.execute(sa.text("DELETE FROM released_population WHERE id = :id"),
                         {"id": row_id})
            continue
        bind.execute(sa.text(
            "UPDATE released_population SET dataset_id = :dataset, scheme = 'legacy-digest', "
            "member_hashes = NULL, key_fingerprint = NULL WHERE id = :id"),
            {"dataset": int(dataset_id), "id": row_id})

    with op.batch_alter_table('released_population', schema=None) as batch_op:
        batch_op.alter_column('dataset_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('scheme', existing_type=sa.String(length=20), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_released_population_dataset_id_dataset'),
                                    'dataset', ['dataset_id'], ['id'])
        batch_op.create_index('ix_released_population_dataset', ['dataset_id', 'size'],
                              unique=False)

    with op.batch_alter_table('analysis_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conflicts', governance.kernel.types.JSONText(),
                                      nullable=True))

    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('protection_width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_abs_smd', sa.Float(), nullable=False,
                                      server_default='0.1'))
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.alter_column('max_abs_smd', existing_type=sa.Float(), server_default=None)

    with op.batch_alter_table('dataset_column', schema=None) as batch_op:
        batch_op.add_column(sa.Column('value_labels', governance.kernel.types.JSONText(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dataset_column', schema=None) as batch_op:
        batch_op.drop_column('value_labels')
    with op.batch_alter_table('agreement_version', schema=None) as batch_op:
        batch_op.drop_column('max_abs_smd')
        batch_op.drop_column('protection_width')
    with op.batch_alter_table('analysis_run', schema=None) as batch_op:
        batch_op.drop_column('conflicts')
    # Keyed rows cannot go back to the per-agreement 64-bit scheme: the ledger is emptied of
    # them, and legacy rows keep their size and digest with empty member hashes.
    op.execute("DELETE FROM released_population WHERE scheme <> 'legacy-digest'")
    op.execute("UPDATE released_population SET member_hashes = '' WHERE member_hashes IS NULL")
    with op.batch_alter_table('released_population', schema=None) as batch_op:
        batch_op.drop_index('ix_released_population_dataset')
        batch_op.drop_constraint(batch_op.f('fk_released_population_dataset_id_dataset'),
                                 type_='foreignkey')
        batch_op.alter_column('member_hashes', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('key_fingerprint')
        batch_op.drop_column('scheme')
        batch_op.drop_column('dataset_id')
