"""scim_token.created_by_id: the administrator who issued each SCIM token

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-07

A SCIM token acts as the provider's provisioning client on the authority of the administrator
who issued it, so it never grants that administrator a role (identity/groups.py). The issuer
was kept as an e-mail only, which SCIM itself can change; tokens issued before are matched to
their issuer's account by that e-mail.
"""

import sqlalchemy as sa
from alembic import op

revision = '0048'
down_revision = '0047'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scim_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_scim_token_created_by_id_user_account'),
            'user_account',
            ['created_by_id'],
            ['id'],
        )
    op.execute(
        "UPDATE scim_token SET created_by_id = (SELECT user_account.id FROM user_account "
        "WHERE user_account.email = scim_token.created_by)"
    )


def downgrade() -> None:
    with op.batch_alter_table('scim_token', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_scim_token_created_by_id_user_account'), type_='foreignkey'
        )
        batch_op.drop_column('created_by_id')
