"""role_change.organization_id: a move to another organisation waits like a powerful role

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-07

A person's organisation decides whose outputs a partner reviewer previews, whose role requests
an administrator handles and whom partners write to, so moving someone who holds such a role
waits for a second administrator as granting the role does (identity/role_changes.py). The
move is a role change of kind "move" with no role and the organisation it goes to.
"""

import sqlalchemy as sa
from alembic import op

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("role_change", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organization_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_role_change_organization_id_organization"),
            "organization",
            ["organization_id"],
            ["id"],
        )
        batch_op.alter_column("role", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM role_change WHERE role IS NULL")
    with op.batch_alter_table("role_change", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_constraint(
            batch_op.f("fk_role_change_organization_id_organization"), type_="foreignkey"
        )
        batch_op.drop_column("organization_id")
