"""Migration 0043 (audit_event's index set), and 0054 after it, go down and up again on both
databases, with events in the trail, and the trail keeps refusing changes (SQLite's triggers
survive)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from governance import schema
from governance.kernel.db import make_engine
from tests.audit.conftest import write_one_raw_event

BEFORE = {
    "ix_audit_event_occurred_at",
    "ix_audit_event_actor",
    "ix_audit_event_type",
    "ix_audit_event_agreement",
    "ix_audit_event_dataset",
    "ix_audit_event_actor_email",
    "ix_audit_event_outcome",
}
AFTER = {
    "ix_audit_event_time",
    "ix_audit_event_agreement",
    "ix_audit_event_dataset",
    "ix_audit_event_email",
    "ix_audit_event_holder",
    "ix_audit_event_rare_type",
    "ix_audit_event_rare_outcome",
    # Migration 0054: what the trail says of one row (access/trail_check.py).
    "ix_audit_event_target",
}


def _indexes(engine: object) -> set[str]:
    return {str(index["name"]) for index in inspect(engine).get_indexes("audit_event")}


def test_the_index_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert _indexes(engine) == AFTER
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0042")
        assert _indexes(engine) == BEFORE
        write_one_raw_event(engine)
        schema.upgrade(engine)
        assert _indexes(engine) == AFTER
        assert schema.current_revision(engine) == schema.head_revision()
        with pytest.raises(DatabaseError), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_event"))
    finally:
        engine.dispose()
