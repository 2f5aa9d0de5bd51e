"""webhooks: endpoints (sealed signing secrets), the outbox of deliveries, and each attempt

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'webhook_endpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('event_types', governance.kernel.types.JSONText(), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('sealed_secret', sa.LargeBinary(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False),
        sa.Column('disabled_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('disabled_reason', sa.String(length=500), nullable=True),
        sa.Column('created_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ondelete='SET NULL',
                                name=op.f('fk_webhook_endpoint_created_by_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoint')),
    )
    op.create_table(
        'webhook_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('event_type', sa.String(length=80), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.Column('next_attempt_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.Column('delivered_at', governance.kernel.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id'], ondelete='CASCADE',
                                name=op.f('fk_webhook_delivery_endpoint_id_webhook_endpoint')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_delivery_due', ['status', 'next_attempt_at'],
                              unique=False)
        batch_op.create_index('ix_webhook_delivery_endpoint', ['endpoint_id', 'created_at'],
                              unique=False)
    op.create_table(
        'webhook_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('attempted_at', governance.kernel.types.UTCDateTime(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['delivery_id'], ['webhook_delivery.id'], ondelete='CASCADE',
                                name=op.f('fk_webhook_attempt_delivery_id_webhook_delivery')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempt')),
    )
    with op.batch_alter_table('webhook_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_attempt_delivery_id'), ['delivery_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_attempt_delivery_id'))
    op.drop_table('webhook_attempt')
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_delivery_endpoint')
        batch_op.drop_index('ix_webhook_delivery_due')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook_endpoint')
