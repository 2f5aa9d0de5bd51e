"""Migration 0046 (TRUNCATE refused on the append-only audit tables) goes down and up again
on both databases: a database migrated before it gains the statement triggers, the row
triggers stay throughout, and its downgrade leaves the tables as 0045 had them."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

from governance import schema
from governance.kernel.db import make_engine
from tests.audit.conftest import write_one_raw_event

TABLES = ("audit_event", "audit_checkpoint", "audit_timestamp")
TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
    "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
}


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(text(TRIGGERS[engine.dialect.name])))


def _an_event_stays(engine: Engine) -> None:
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_event"))


def test_the_truncate_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    postgresql = engine.dialect.name == "postgresql"
    added = {f"{table}_no_truncate" for table in TABLES} if postgresql else set()
    try:
        write_one_raw_event(engine)
        upgraded = _triggers(engine)
        assert added <= upgraded
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0045")
        assert _triggers(engine) == upgraded - added
        _an_event_stays(engine)
        if postgresql:  # what 0046 closes: the row triggers let TRUNCATE through
            with engine.begin() as connection:
                connection.execute(text("TRUNCATE audit_timestamp"))
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert _triggers(engine) == upgraded
        _an_event_stays(engine)
        if postgresql:
            with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
                connection.execute(text("TRUNCATE audit_event"))
    finally:
        schema.upgrade(engine)
        engine.dispose()
