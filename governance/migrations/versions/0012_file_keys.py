"""per-file keys and file ids of stored files; the destroyed key's fingerprint

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Each stored dataset version and cohort file gets its file id and its own wrapped key. Rows of
files stored before this revision keep the three columns null: their files stay readable
under the data key itself until `governance datastore rewrap` re-encrypts them (a migration
cannot reach the keys, which live outside the database).
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

FILE_TABLES = ('dataset_version', 'cohort_file')


def upgrade() -> None:
    for table in FILE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('file_id', sa.String(length=32), nullable=True))
            batch_op.add_column(sa.Column('wrapped_key', sa.LargeBinary(), nullable=True))
            batch_op.add_column(sa.Column('wrapping_key_id', sa.String(length=16),
                                          nullable=True))
    with op.batch_alter_table('destroyed_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_fingerprint', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Dropping the wrapped keys would make every file stored since this revision unreadable.
    connection = op.get_bind()
    for table in FILE_TABLES:
        keyed = connection.execute(sa.text(
            f"SELECT count(*) FROM {table} WHERE wrapped_key IS NOT NULL")).scalar()
        if keyed:
            raise RuntimeError(f"{keyed} rows of {table} hold the only copy of their file's key; "
                               "downgrading would make those files unreadable.")
    with op.batch_alter_table('destroyed_version', schema=None) as batch_op:
        batch_op.drop_column('key_fingerprint')
    for table in reversed(FILE_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('wrapping_key_id')
            batch_op.drop_column('wrapped_key')
            batch_op.drop_column('file_id')
