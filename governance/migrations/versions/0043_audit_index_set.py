"""audit_event: seven indexes, a granted read entered in five of them, not seven

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-06

Each index entry is written (SQLite: one more WAL page) at every audited decision. The time
index now carries the type and outcome, so the trail's bulk (granted dataset reads) is found
by time; the type and outcome indexes hold only the other events (partial indexes), the
e-mail and holder indexes only events with an e-mail and a person's id; actor_id's index
becomes the holder's (actor_id, dataset_id, occurred_at), what its one query (a grant's use)
asks. See docs/benchmarks.md "2026-12-06 auditidx".

Plain CREATE INDEX (no batch mode): recreating audit_event on SQLite would drop its
append-only triggers.
"""

import sqlalchemy as sa
from alembic import op

revision = '0043'
down_revision = '0042'
branch_labels = None
depends_on = None

_OLD = (
    ('ix_audit_event_occurred_at', ['occurred_at']),
    ('ix_audit_event_actor', ['actor_id', 'occurred_at']),
    ('ix_audit_event_type', ['event_type', 'occurred_at']),
    ('ix_audit_event_actor_email', ['actor_email', 'occurred_at']),
    ('ix_audit_event_outcome', ['outcome', 'occurred_at']),
)


def _where(clause: str) -> dict[str, object]:
    return {'sqlite_where': sa.text(clause), 'postgresql_where': sa.text(clause)}


def upgrade() -> None:
    op.create_index('ix_audit_event_time', 'audit_event', ['occurred_at', 'event_type', 'outcome'])
    op.create_index(
        'ix_audit_event_email',
        'audit_event',
        ['actor_email', 'occurred_at'],
        **_where('actor_email IS NOT NULL'),
    )
    op.create_index(
        'ix_audit_event_holder',
        'audit_event',
        ['actor_id', 'dataset_id', 'occurred_at'],
        **_where('actor_id IS NOT NULL'),
    )
    op.create_index(
        'ix_audit_event_rare_type',
        'audit_event',
        ['event_type', 'occurred_at'],
        **_where("event_type <> 'dataset:read'"),
    )
    op.create_index(
        'ix_audit_event_rare_outcome',
        'audit_event',
        ['outcome', 'occurred_at'],
        **_where("outcome <> 'allowed'"),
    )
    for name, _columns in _OLD:
        op.drop_index(name, table_name='audit_event')


def downgrade() -> None:
    for name, columns in _OLD:
        op.create_index(name, 'audit_event', columns, unique=False)
    for name in (
        'ix_audit_event_rare_outcome',
        'ix_audit_event_rare_type',
        'ix_audit_event_holder',
        'ix_audit_event_email',
        'ix_audit_event_time',
    ):
        op.drop_index(name, table_name='audit_event')
