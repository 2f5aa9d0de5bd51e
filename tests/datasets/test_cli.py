"""`governance dataset create | ingest | list | verify` from the host's shell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.cli import context, main
from governance.datasets.models import Dataset
from governance.kernel.extensions import database
from tests.conftest import fresh
from tests.datasets.support import COLUMNS, GOOD_CSV, HEADER, data_files, version_count
from tests.support import People


@pytest.fixture
def cli(app: Flask, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """Commands build their own app from the environment, on the test's database; each app's
    connections are closed afterwards (a real command's process would simply exit)."""
    from governance.datasets import cli as dataset_commands

    built: list[Flask] = []

    def build_and_remember() -> Flask:
        built.append(context.build_app())
        return built[-1]

    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    monkeypatch.setattr(dataset_commands, "build_app", build_and_remember)
    yield CliRunner()
    for application in built:
        database(application).dispose()


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, list(args), catch_exceptions=False)


def test_create_ingest_and_list(
    cli: CliRunner, app: Flask, db: Session, people: People, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps({"description": "Arrests", "columns": [c.as_dict() for c in COLUMNS]})
    )
    created = run(
        cli,
        "dataset",
        "create",
        "--provider",
        "Test Police",
        "--name",
        "Arrests",
        "--schema",
        str(schema),
        "--steward",
        people.steward.email,
    )
    assert created.exit_code == 0, created.output
    assert "with 6 columns" in created.output
    data = tmp_path / "arrests.csv"
    data.write_bytes(GOOD_CSV)
    first = run(cli, "dataset", "ingest", "Arrests", str(data))
    assert first.exit_code == 0, first.output
    assert "version 1 of Arrests: 3 rows" in first.output
    second = run(cli, "dataset", "ingest", "1", str(data))
    assert "version 2" in second.output
    listing = run(cli, "dataset", "list")
    assert "Arrests" in listing.output
    assert "Test Police" in listing.output
    verified = run(cli, "dataset", "verify")
    assert verified.exit_code == 0
    assert verified.output.count("ok") == 2
    assert len(data_files(app)) == 2


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"person_id,age\nJos\xe9,3\n", "not valid UTF-8"),
        (
            HEADER + b"P1,3,2021-03-04,theft,,\nP2,abc,2021-03-04,theft,,\n",
            "row 3, column age: expected integer, got 'abc'",
        ),
        (b"person_id,age,age,arrest_date,offence\n", "appears more than once"),
        (HEADER + b"P1\x00,3,2021-03-04,theft,,\n", "NUL byte"),
    ],
)
def test_a_bad_file_exits_non_zero_with_nothing_stored(
    cli: CliRunner,
    app: Flask,
    db: Session,
    arrests: Dataset,
    tmp_path: Path,
    content: bytes,
    says: str,
) -> None:
    data = tmp_path / "arrests.csv"
    data.write_bytes(content)
    result = cli.invoke(main, ["dataset", "ingest", "Arrests", str(data)])
    assert result.exit_code == 1
    assert "The file was not stored" in result.output
    assert says in result.output
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []
    event = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_INGEST))
        .one()
    )
    assert event.outcome == Outcome.FAILURE
    assert event.actor_email == "system:cli"


def test_a_file_over_the_limit_is_refused_before_reading(
    cli: CliRunner,
    app: Flask,
    db: Session,
    arrests: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVERNANCE_MAX_UPLOAD_MB", "1")
    data = tmp_path / "arrests.csv"
    data.write_bytes(HEADER + b"P1,3,2021-03-04,theft,,\n" * 60_000)
    result = cli.invoke(main, ["dataset", "ingest", str(arrests.id), str(data)])
    assert result.exit_code == 1
    assert "larger than the 1 MB limit" in result.output
    assert data_files(app) == []


def test_unknown_dataset_and_bad_schema_are_clear_errors(
    cli: CliRunner, people: People, arrests: Dataset, tmp_path: Path
) -> None:
    data = tmp_path / "x.csv"
    data.write_bytes(GOOD_CSV)
    missing = cli.invoke(main, ["dataset", "ingest", "Nope", str(data)])
    assert missing.exit_code == 1
    assert "no dataset named 'Nope'" in missing.output
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps({"columns": [{"name": "x", "type": "text", "classification": "general"}]})
    )
    bad = cli.invoke(
        main,
        ["dataset", "create", "--provider", "Test Police", "--name", "X", "--schema", str(schema)],
    )
    assert bad.exit_code == 1
    assert "Some columns need correcting" in bad.output
