"""audit_event, audit_checkpoint, audit_timestamp: refuse TRUNCATE on PostgreSQL

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07

TRUNCATE empties a table without firing its row triggers, so the append-only tables' triggers
let it through on PostgreSQL (the head's refuse it since 0045). Each table's triggers are
re-installed as governance/kernel/append_only.py has them now, which adds a statement trigger
refusing TRUNCATE; a database created after this change has it already and is left as it is.
SQLite has no TRUNCATE: its triggers are re-created unchanged.
"""

from governance.kernel import append_only

revision = '0046'
down_revision = '0045'
branch_labels = None
depends_on = None

# The append-only tables at this revision (a later one protects its own tables when it
# creates them).
TABLES = ("audit_event", "audit_checkpoint", "audit_timestamp")


def upgrade() -> None:
    for table in TABLES:
        append_only.create(table)


def downgrade() -> None:
    for table in TABLES:
        append_only.drop_truncate(table)
