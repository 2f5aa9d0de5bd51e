"""Migration 0035 (a dataset's DUO conditions, a request's DUO purpose) goes down and up again
on both databases."""

from __future__ import annotations

from alembic import command

from governance import schema
from governance.kernel.db import make_engine
from tests.access.test_risk_migration import columns


def test_the_duo_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert "data_use" in columns(engine, "dataset")
        assert "data_use" in columns(engine, "access_request")
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0034")
        assert "data_use" not in columns(engine, "dataset")
        assert "data_use" not in columns(engine, "access_request")
        schema.upgrade(engine)
        assert "data_use" in columns(engine, "dataset")
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()
