"""audit_event: an index by target, for the comparison of live grants against the trail

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-08

A grant row put back to an earlier sealed state (a restored backup) passes its seal; the trail
records each revocation, narrowing, shortening and pause, so the grant index compares the
grants it loads with their events (governance/access/trail_check.py), in one query per load.
This index answers it by (target type, target id); like the type index it leaves out the
trail's bulk (granted reads), so an audited read writes no more index entries than before.

Plain CREATE INDEX (no batch mode): recreating audit_event on SQLite would drop its
append-only triggers.
"""

import sqlalchemy as sa
from alembic import op

revision = '0054'
down_revision = '0053'
branch_labels = None
depends_on = None

_NOT_BULK = "event_type <> 'dataset:read'"


def upgrade() -> None:
    op.create_index(
        'ix_audit_event_target',
        'audit_event',
        ['target_type', 'target_id', 'seq'],
        sqlite_where=sa.text(_NOT_BULK),
        postgresql_where=sa.text(_NOT_BULK),
    )


def downgrade() -> None:
    op.drop_index('ix_audit_event_target', table_name='audit_event')
