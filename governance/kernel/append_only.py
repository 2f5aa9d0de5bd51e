"""Database triggers that make a table append-only, on SQLite and PostgreSQL, and keep the
audit chain's head row in place.

The application has no update or delete path for the audit trail; these triggers make the
database itself refuse one, so a bug or a careless administrator cannot rewrite history
without first dropping them (which `governance audit verify` would then still detect).
PostgreSQL's TRUNCATE empties a table without firing its row triggers, so every table here
also has a statement trigger refusing it (SQLite has no TRUNCATE: its DELETE fires the row
triggers).

The chain head (`audit_head`, one row) is updated by every event written, so it cannot be
append-only; it can still never be deleted (nothing can be recorded without it, and a deleted
head hides where the trail ended), nor moved back or given another id (a head moved back lets
the next events overwrite the sequence a reader already saw). Moving it forward stays the
writer's: verification checks where it points.
"""

from __future__ import annotations

from alembic import op

MESSAGE = "is append-only: UPDATE, DELETE and TRUNCATE are refused"
HEAD_TABLE = "audit_head"
HEAD_MESSAGE = (
    "keeps its one row and only moves forward: DELETE, TRUNCATE and a move back are refused"
)
# An UPDATE of the head the writer never makes: seq back, or the row's id changed.
HEAD_REWIND = "NEW.seq < OLD.seq OR NEW.id <> OLD.id"


def _refusing(
    dialect: str, table: str, function: str, message: str, triggers: dict[str, tuple[str, str]]
) -> list[str]:
    """Triggers `name: (event, condition)` on `table` that abort the statement with `message`
    when the condition holds (always when it is empty). PostgreSQL's share one function, named
    `function`; a TRUNCATE event there is a statement trigger (it deletes without row events).
    Each trigger is dropped first if it exists, so a later migration can re-install a table's
    triggers as this module has them now (a database migrated earlier lacks the newer ones)."""
    refusal = f"{table} {message}"
    if dialect == "sqlite":
        statements = []
        for name, (event, condition) in triggers.items():
            if event == "TRUNCATE":  # SQLite has none: its DELETE fires the DELETE trigger
                continue
            when = f" WHEN {condition}" if condition else ""
            statements += [
                f"DROP TRIGGER IF EXISTS {name}",
                f"CREATE TRIGGER {name} BEFORE {event} ON {table}{when} "
                f"BEGIN SELECT RAISE(ABORT, '{refusal}'); END",
            ]
        return statements
    statements = [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{refusal}'; END $$"
    ]
    for name, (event, condition) in triggers.items():
        each = "STATEMENT" if event == "TRUNCATE" else "ROW"
        when = f" WHEN ({condition})" if condition else ""
        statements += [
            f"DROP TRIGGER IF EXISTS {name} ON {table}",
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
            f"FOR EACH {each}{when} EXECUTE FUNCTION {function}()",
        ]
    return statements


def _dropping(
    dialect: str, table: str, function: str | None, triggers: dict[str, tuple[str, str]]
) -> list[str]:
    """Drop the triggers, and the function they share unless `function` is None (others
    still use it)."""
    if dialect == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {name}"
            for name, (event, _) in triggers.items()
            if event != "TRUNCATE"
        ]
    statements = [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name in triggers]
    return statements + ([f"DROP FUNCTION IF EXISTS {function}()"] if function else [])


def _truncate_trigger(table: str) -> dict[str, tuple[str, str]]:
    return {f"{table}_no_truncate": ("TRUNCATE", "")}


def _append_only_triggers(table: str, dialect: str) -> dict[str, tuple[str, str]]:
    # SQLite's triggers name one event each; PostgreSQL's one row trigger fires on both.
    if dialect == "sqlite":
        return {f"{table}_no_{event.lower()}": (event, "") for event in ("UPDATE", "DELETE")}
    return {f"{table}_append_only": ("UPDATE OR DELETE", ""), **_truncate_trigger(table)}


def _head_triggers() -> dict[str, tuple[str, str]]:
    return {
        f"{HEAD_TABLE}_no_delete": ("DELETE", ""),
        **_truncate_trigger(HEAD_TABLE),
        f"{HEAD_TABLE}_no_rewind": ("UPDATE", HEAD_REWIND),
    }


def create_statements(table: str, dialect: str) -> list[str]:
    """The SQL that installs the triggers (used by migrations, and by tests that restore them)."""
    if table == HEAD_TABLE:
        return _refusing(dialect, table, f"{table}_kept", HEAD_MESSAGE, _head_triggers())
    triggers = _append_only_triggers(table, dialect)
    return _refusing(dialect, table, f"{table}_append_only", MESSAGE, triggers)


def drop_statements(table: str, dialect: str) -> list[str]:
    """The SQL that removes them (a downgrade; tests use it to play an intruder)."""
    if table == HEAD_TABLE:
        return _dropping(dialect, table, f"{table}_kept", _head_triggers())
    return _dropping(dialect, table, f"{table}_append_only", _append_only_triggers(table, dialect))


def drop_truncate_statements(table: str, dialect: str) -> list[str]:
    """The SQL that removes only the TRUNCATE trigger, keeping the row triggers and their
    function (migration 0046's downgrade: the triggers as they were before it)."""
    return _dropping(dialect, table, None, _truncate_trigger(table))


def create(table: str) -> None:
    """Install the table's triggers, or re-install them as this module has them now."""
    _run(create_statements(table, op.get_bind().dialect.name))


def drop(table: str) -> None:
    _run(drop_statements(table, op.get_bind().dialect.name))


def drop_truncate(table: str) -> None:
    _run(drop_truncate_statements(table, op.get_bind().dialect.name))


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)
