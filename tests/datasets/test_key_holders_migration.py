"""Migration 0042 (a wrap held by a dataset's own key, cohort files' format and agreement key,
whose key a certificate line names) goes down and up again on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from governance import schema
from governance.kernel.db import make_engine
from tests.access.test_risk_migration import columns


def downgrade(engine: sa.Engine) -> None:
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0041")


def test_the_key_holders_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert {"storage_format", "content_sha256", "agreement_key_id"} <= columns(
            engine, "cohort_file"
        )
        assert "holder" in columns(engine, "destroyed_key")
        downgrade(engine)
        assert "agreement_key_id" not in columns(engine, "cohort_file")
        assert "holder" not in columns(engine, "destroyed_key")
        schema.upgrade(engine)
        assert "holder" in columns(engine, "destroyed_key")
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()
