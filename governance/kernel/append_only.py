"""Database triggers that make a table append-only, on SQLite and PostgreSQL.

The application has no update or delete path for the audit trail; these triggers make the
database itself refuse one, so a bug or a careless administrator cannot rewrite history
without first dropping them (which `governance audit verify` would then still detect).
"""

from __future__ import annotations

from alembic import op

MESSAGE = "is append-only: UPDATE and DELETE are refused"


def create_statements(table: str, dialect: str) -> list[str]:
    """The SQL that installs the triggers (used by migrations, and by tests that restore them)."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} {MESSAGE}'); END"
            for action in ("UPDATE", "DELETE")
        ]
    return [
        f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{table} {MESSAGE}'; END $$",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
    ]


def drop_statements(table: str, dialect: str) -> list[str]:
    """The SQL that removes them (a downgrade; tests use it to play an intruder)."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{action}" for action in ("update", "delete")]
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"DROP FUNCTION IF EXISTS {table}_append_only()",
    ]


def create(table: str) -> None:
    for statement in create_statements(table, op.get_bind().dialect.name):
        op.execute(statement)


def drop(table: str) -> None:
    for statement in drop_statements(table, op.get_bind().dialect.name):
        op.execute(statement)
