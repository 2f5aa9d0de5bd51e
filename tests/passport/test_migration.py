"""The passport migration goes down and up again on both databases, and leaves the schema
the models declare."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from governance import schema
from governance.kernel.db import Base, make_engine


def test_the_passport_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert "passport_visa" in inspect(engine).get_table_names()
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0034")
        assert "passport_visa" not in inspect(engine).get_table_names()
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert not [d for d in differences if "passport_visa" in repr(d)]
    finally:
        engine.dispose()
