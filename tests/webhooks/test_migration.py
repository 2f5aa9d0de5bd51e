"""The webhooks migration goes down and up again on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from governance import schema
from governance.kernel.db import make_engine

TABLES = {"webhook_endpoint", "webhook_delivery", "webhook_attempt"}


def test_the_webhooks_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0021")
        assert not TABLES & set(inspect(engine).get_table_names())
        schema.upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()
