"""Migrations match the models on both databases; settings are declared and validated once."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from governance import create_app, schema
from governance.kernel.config import ConfigError
from governance.kernel.extensions import database


def test_models_and_migrations_agree(app: Flask) -> None:
    engine = database(app).engine
    assert schema.current_revision(engine) == schema.head_revision()
    assert schema.differences(engine) == []


def test_unknown_environment_setting_stops_start_up(
    instance_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVERNANCE_DATABSE_URL", "sqlite:///x.db")
    with pytest.raises(ConfigError, match="Unknown setting 'DATABSE_URL'"):
        create_app()


def test_invalid_setting_stops_start_up(
    instance_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVERNANCE_LOCKOUT_THRESHOLD", "many")
    with pytest.raises(ConfigError, match="Invalid value for LOCKOUT_THRESHOLD"):
        create_app()


def test_unknown_setting_in_instance_config_stops_start_up(instance_path: Path) -> None:
    (instance_path / "config.py").write_text("SECRET_KEYS = 'x'\n")
    with pytest.raises(ConfigError, match="SECRET_KEYS"):
        create_app()


def test_defaults_put_state_in_instance_and_generate_a_secret_key(instance_path: Path) -> None:
    app = create_app()
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance_path / 'governance.kernel.db'}"
    key_file = instance_path / "secret_key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = create_app()
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    database(app).dispose()
    database(again).dispose()


def test_environment_overrides_instance_config(
    instance_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (instance_path / "config.py").write_text("MAX_UPLOAD_MB = 50\nLOCKOUT_MINUTES = 30\n")
    monkeypatch.setenv("GOVERNANCE_LOCKOUT_MINUTES", "20")
    app = create_app()
    assert app.config["MAX_UPLOAD_MB"] == 50
    assert app.config["LOCKOUT_MINUTES"] == 20
    assert app.config["MAX_CONTENT_LENGTH"] == 50 * 1024 * 1024
    database(app).dispose()
