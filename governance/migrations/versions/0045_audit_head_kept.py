"""audit_head: refuse DELETE (and TRUNCATE on PostgreSQL) and an UPDATE moving it back

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-07

The chain head is updated by every event, so it has no append-only triggers; a DELETE of it
(or a rewind of its seq) was refused by nothing in the database. The writer only ever moves
it forward, so these triggers never fire for the service (governance/kernel/append_only.py).
"""

from governance.kernel import append_only

revision = '0045'
down_revision = '0044'
branch_labels = None
depends_on = None


def upgrade() -> None:
    append_only.create(append_only.HEAD_TABLE)


def downgrade() -> None:
    append_only.drop(append_only.HEAD_TABLE)
