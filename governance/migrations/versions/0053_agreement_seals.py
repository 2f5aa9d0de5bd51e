"""agreement.seal, agreement_version.seal: keyed seals over the terms an agreement enforces

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-07

Someone with the database but not the key files could change the terms of an agreement in
force (lower its minimum cell size, move its end date, widen its scope, add a person to its
personnel) and the service would enforce the altered terms. Each agreement and each of its
versions now carries an HMAC over what it decides, under a subkey of the audit key
(governance/access/agreement_seals.py); an agreement whose seals do not hold allows nothing.
The migration cannot seal the rows already there (it has no key): `governance init`, which
runs it, seals them once right after, and records that it did (agreement:seals_start), whether
or not the grants were sealed by an earlier upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agreement", sa.Column("seal", sa.String(length=81), nullable=True))
    op.add_column("agreement_version", sa.Column("seal", sa.String(length=81), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the parent tables and cascade.
    op.drop_column("agreement_version", "seal")
    op.drop_column("agreement", "seal")
