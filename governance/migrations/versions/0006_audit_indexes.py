"""audit indexes: search by user e-mail and by outcome

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Plain CREATE INDEX (no batch mode): recreating audit_event on SQLite would drop its
append-only triggers.
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_event_actor_email', 'audit_event', ['actor_email', 'occurred_at'], unique=False)
    op.create_index('ix_audit_event_outcome', 'audit_event', ['outcome', 'occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_event_outcome', table_name='audit_event')
    op.drop_index('ix_audit_event_actor_email', table_name='audit_event')
