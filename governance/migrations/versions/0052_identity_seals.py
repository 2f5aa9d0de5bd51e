"""Keyed seals over the rows that decide who someone is and what they may do: accounts, roles,
API and SCIM tokens, sessions, account links, second factors, sign-on links, group mappings

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-07

Someone with the database but not the key files could give anyone a role, move a person to
another organisation, write a password hash they know, or insert a token or session whose
secret they hold, and act as that person. Each of these rows now carries an HMAC over what
decides it, under a subkey of the audit key (governance/identity/seals.py); a row without a
seal that holds gives nothing. The migration cannot seal the rows already there (it has no
key): `governance init`, which runs it, seals them once right after, and records that it did
(grant:seals_start, naming the kinds).
"""

import sqlalchemy as sa
from alembic import op

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None

TABLES = (
    "user_account",
    "user_role",
    "api_token",
    "user_session",
    "scim_token",
    "account_link",
    "totp_credential",
    "recovery_code",
    "external_identity",
    "group_mapping",
)


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("seal", sa.String(length=81), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the parent tables and cascade.
    for table in reversed(TABLES):
        op.drop_column(table, "seal")
