"""datasets: a version no agreement covers is held under its dataset's own key (a wrap without
an agreement); cohort files: Parquet modular encryption and keys per agreement (storage format,
content hash, agreement key id); agreements: whose key each destroyed-key line names

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0042'
down_revision = '0041'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nothing references version_key_wrap, so SQLite's table copy is safe here.
    with op.batch_alter_table('version_key_wrap', schema=None) as batch_op:
        batch_op.alter_column('agreement_id', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('cohort_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agreement_key_id', sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column('storage_format', sa.String(length=8), server_default='gde1', nullable=False)
        )
        batch_op.add_column(sa.Column('content_sha256', sa.String(length=64), nullable=True))
    with op.batch_alter_table('destroyed_key', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('holder', sa.String(length=40), server_default='agreement', nullable=False)
        )
    # Lines written before name the certificate's (closed) agreement.
    op.execute(
        "UPDATE destroyed_key SET holder = 'agreement-' || ("
        "SELECT CAST(c.agreement_id AS VARCHAR(20)) FROM destruction_certificate c "
        "WHERE c.id = destroyed_key.certificate_id) "
        "WHERE EXISTS (SELECT 1 FROM destruction_certificate c "
        "WHERE c.id = destroyed_key.certificate_id AND c.agreement_id IS NOT NULL)"
    )


def downgrade() -> None:
    held = op.get_bind().scalar(
        sa.text('SELECT COUNT(*) FROM version_key_wrap WHERE agreement_id IS NULL')
    )
    if held:
        raise RuntimeError(
            f'{held} version key(s) are held under their dataset\'s own key, which the earlier '
            'schema cannot record; downgrading would make those versions unreadable.'
        )
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, columns in (
        ('destroyed_key', ['holder']),
        ('cohort_file', ['content_sha256', 'storage_format', 'agreement_key_id']),
    ):
        if sqlite:
            # In place (SQLite 3.35+), like 0041: no table copy under other tables' foreign keys.
            for column in columns:
                op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_column(column)
    with op.batch_alter_table('version_key_wrap', schema=None) as batch_op:
        batch_op.alter_column('agreement_id', existing_type=sa.Integer(), nullable=False)
