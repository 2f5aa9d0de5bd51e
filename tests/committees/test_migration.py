"""Migration 0023 (committees) goes down and up again on both databases, models agreeing."""

from __future__ import annotations

from alembic import command
from flask import Flask
from sqlalchemy import inspect

from governance import schema
from governance.kernel.extensions import database


def test_the_committee_migration_downgrades_and_upgrades(app: Flask) -> None:
    engine = database(app).engine
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0021")
    tables = set(inspect(engine).get_table_names())
    assert not {t for t in tables if t.startswith("committee")}
    assert "committee_id" not in {c["name"] for c in inspect(engine).get_columns("access_request")}
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    assert schema.differences(engine) == []
