"""Migration 0034 (risk figures with a request, the agreement's unique-share limit) goes down
and up again on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from governance import schema
from governance.kernel.db import make_engine


def columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}  # type: ignore[arg-type]


def test_the_risk_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert "risk_figures" in columns(engine, "access_request")
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0031")
        assert "risk_figures" not in columns(engine, "access_request")
        assert "max_unique_share" not in columns(engine, "agreement_version")
        schema.upgrade(engine)
        assert "risk_figures" in columns(engine, "access_request")
        assert "max_unique_share" in columns(engine, "agreement_version")
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()


def test_the_column_forms_migration_downgrades_and_upgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert "form" in columns(engine, "access_request_column")
        assert {"form", "form_key_id"} <= columns(engine, "access_grant_column")
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0034")
        assert "form" not in columns(engine, "access_request_column")
        assert not {"form", "form_key_id"} & columns(engine, "access_grant_column")
        schema.upgrade(engine)
        assert {"form", "form_key_id"} <= columns(engine, "access_grant_column")
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()


def test_the_derived_forms_migration_downgrades_and_upgrades(database_url: str) -> None:
    """0041: existing versions come back allowing both forms (what they allowed before)."""
    engine = make_engine(database_url)
    try:
        assert "derived_forms" in columns(engine, "agreement_version")
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0040")
        assert "derived_forms" not in columns(engine, "agreement_version")
        schema.upgrade(engine)
        [column] = [
            c
            for c in inspect(engine).get_columns("agreement_version")
            if c["name"] == "derived_forms"
        ]
        assert not column["nullable"]
        assert "both" in str(column["default"])
        assert schema.current_revision(engine) == schema.head_revision()
    finally:
        engine.dispose()
