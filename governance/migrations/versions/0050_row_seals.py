"""access_grant.seal, access_grant.effective_rule, training_record.seal: keyed seals over the
rows the data door relies on

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-07

Someone with the database but not the key files could insert a grant, extend or un-revoke one,
add a direct identifier to it, or make lapsed training current, and the door would honour it.
Each grant and training record now carries an HMAC over what decides access, under a subkey of
the audit key (governance/access/seals.py); a row without a seal that holds allows nothing.
The migration cannot seal the rows already there (it has no key): `governance init`, which
runs it, seals them once right after, and records that it did (access:seals_start).
"""

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "access_grant",
        sa.Column("effective_rule", sa.String(length=40), server_default="", nullable=False),
    )
    op.add_column("access_grant", sa.Column("seal", sa.String(length=81), nullable=True))
    op.add_column("training_record", sa.Column("seal", sa.String(length=81), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the parent tables and cascade.
    op.drop_column("training_record", "seal")
    op.drop_column("access_grant", "seal")
    op.drop_column("access_grant", "effective_rule")
