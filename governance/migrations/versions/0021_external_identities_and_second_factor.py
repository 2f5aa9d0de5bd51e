"""identity: external identities (issuer + subject) for single sign-on, SAML assertions already
used, TOTP second factors and their one-time recovery codes

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

import governance.kernel.types

revision = '0021'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('external_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=60), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('linked_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_sign_in_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_external_identity_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_identity')),
    sa.UniqueConstraint('issuer', 'subject', name=op.f('uq_external_identity_issuer'))
    )
    with op.batch_alter_table('external_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_external_identity_user_id'), ['user_id'], unique=False)

    op.create_table('seen_saml_assertion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('assertion_id', sa.String(length=200), nullable=False),
    sa.Column('expires_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seen_saml_assertion')),
    sa.UniqueConstraint('issuer', 'assertion_id', name=op.f('uq_seen_saml_assertion_issuer'))
    )
    with op.batch_alter_table('seen_saml_assertion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_saml_assertion_expires_at'), ['expires_at'], unique=False)

    op.create_table('totp_credential',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('sealed_secret', sa.LargeBinary(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_step', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_totp_credential_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_totp_credential'))
    )
    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.Text(), nullable=False),
    sa.Column('created_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', governance.kernel.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_recovery_code_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))
    op.drop_table('recovery_code')
    op.drop_table('totp_credential')
    with op.batch_alter_table('seen_saml_assertion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_saml_assertion_expires_at'))
    op.drop_table('seen_saml_assertion')
    with op.batch_alter_table('external_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_identity_user_id'))
    op.drop_table('external_identity')
