"""Keyed seals over dataset columns (name, type, classification, declared lowest value),
stewards' assignments to datasets and organisations (kind, the local-passwords switch)

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-08

Someone with the database but not the key files could reclassify a direct identifier as not
identifying (so a single steward grants it, and outputs may be grouped by it), move a declared
lowest value between two releases (the differencing attack on rounded means), make a
steward of one dataset the steward of another (who then approves its requests alone), switch an
organisation's local passwords back on, or make a research organisation a provider agency
(whose people may be partner reviewers). Each of these rows now carries an HMAC over what
decides it, under a subkey of the audit key (governance/datasets/seals.py,
governance/identity/seals.py). The migration cannot seal the rows already there (it has no
key): `governance init`, which runs it, seals them once right after, and records that it did
(grant:seals_start, naming the kinds).
"""

import sqlalchemy as sa
from alembic import op

revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None

TABLES = ("dataset_column", "dataset_steward", "organization")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("seal", sa.String(length=81), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the parent tables and cascade.
    for table in reversed(TABLES):
        op.drop_column(table, "seal")
