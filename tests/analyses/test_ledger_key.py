"""The differencing ledger is salted with the data key: rotating the data key would silently
stop later outputs being compared with released ones, so rotation is refused, loudly, while
released populations are recorded (until the ledger's salt names the key it came from)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session

from governance.cli import context, main
from governance.extensions import database
from governance.models.analysis import RunStatus
from tests.analyses.conftest import World, execute, grant_records, submit
from tests.support import People


def test_the_data_key_is_not_rotated_under_a_salted_ledger(
        app: Flask, db: Session, people: People, world: World, instance_path: Path,
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    grant_records(db, people, world, "descriptive")
    run = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    assert run.status == RunStatus.SUCCEEDED
    before = (instance_path / "data.key").read_bytes()
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    built: list[Flask] = []

    def build() -> Flask:
        built.append(context.build_app())
        return built[-1]

    monkeypatch.setattr("governance.cli.keys.build_app", build)
    try:
        result = CliRunner().invoke(main, ["keys", "rotate", "--purpose", "data"])
    finally:
        for built_app in built:
            database(built_app).dispose()
    assert result.exit_code == 1
    assert "would switch off the differencing check" in result.output
    assert (instance_path / "data.key").read_bytes() == before
    assert not (instance_path / "data.key.retired").exists()
