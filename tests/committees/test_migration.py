"""Migrations 0023 (committees) and 0033 (agreement cases) go down and up again on both
databases, models agreeing."""

from __future__ import annotations

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from governance import schema
from governance.agreements.models import Agreement
from governance.committees.models import Committee
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.agreements.test_amendments_and_events import amend
from tests.support import People


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


def test_the_agreement_case_migration_keeps_request_cases_on_both_databases(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    """0033: request cases stay valid up and down; agreement cases go with their columns."""
    ask(db, people, agreement, datasets)
    amend(db, people, datasets, agreement, columns={datasets.arrests.id: ["person_id", "sex"]})
    db.close()
    engine = database(app).engine
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0031")
    columns = {c["name"]: c for c in inspect(engine).get_columns("committee_case")}
    assert "agreement_id" not in columns
    assert columns["request_id"]["nullable"] is False
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM committee_case")).scalar() == 1
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    assert schema.differences(engine) == []
    with engine.begin() as connection, pytest.raises(IntegrityError):
        # Neither a request nor an agreement version: the check refuses it.
        connection.execute(
            text(
                "INSERT INTO committee_case (committee_id, opened_at, deadline, decided_alone, "
                "decision_reason, conditions) VALUES (:c, :t, :t, false, '', '{}')"
            ),
            {"c": committee.id, "t": utcnow()},
        )
