"""Helpers for the audit tests: the CLI against the test's database, an intruder who has
dropped the audit tables' triggers, and chains of events to work on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.cli import main
from governance.kernel import append_only
from governance.kernel.extensions import database
from tests.support import People

CHECKPOINT_EVERY = 5
# The tables whose triggers an intruder drops first: the append-only ones and the head's.
GUARDED_TABLES = ("audit_event", "audit_checkpoint", "audit_timestamp", append_only.HEAD_TABLE)
# WeasyPrint warns once, at import, that this system lacks libharfbuzz-subset: a notice about
# the machine, not our code (see tests/kernel/reports/conftest.py).
HARFBUZZ = "ignore:HarfBuzz-Subset will be required:DeprecationWarning"


@pytest.fixture
def app_config(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # The CLI and writer processes build their own app from the environment: point them at
    # the same database.
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    monkeypatch.setenv("GOVERNANCE_AUDIT_CHECKPOINT_EVERY", str(CHECKPOINT_EVERY))
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "AUDIT_CHECKPOINT_EVERY": CHECKPOINT_EVERY,
    }


CliInvoker = Callable[..., Result]


@pytest.fixture
def cli(app: Flask) -> CliInvoker:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def chain(db: Session, people: People) -> int:
    """The people's set-up events plus 20 searches: returns the head seq."""
    for i in range(20):
        audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, detail={"page": i})
    db.commit()
    return audit.chain_head(db)[0]


@pytest.fixture
def intruder(app: Flask, db: Session) -> Iterator[Callable[..., None]]:
    """Run SQL as someone with database access who dropped the audit tables' triggers."""
    # Dropping a trigger waits for every transaction that read its table (PostgreSQL): the
    # test's session has read the chain head (the `chain` fixture) and must not hold it.
    db.rollback()
    engine = database(app).engine
    dialect = engine.dialect.name
    with engine.begin() as connection:
        for table in GUARDED_TABLES:
            for statement in append_only.drop_statements(table, dialect):
                connection.exec_driver_sql(statement)

    def run(statement: str, **params: Any) -> None:
        with engine.begin() as connection:
            connection.execute(text(statement), params)

    yield run
    with engine.begin() as connection:
        for table in GUARDED_TABLES:
            for statement in append_only.create_statements(table, dialect):
                connection.exec_driver_sql(statement)


def write_one_raw_event(engine: Engine) -> None:
    """An event written as a migration test finds it in an old database (not chained: the
    test checks the schema and its triggers, never verifies)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_event (seq, occurred_at, event_type, outcome, detail, "
                "prev_hash, hash) VALUES (1, '2026-01-01 00:00:00', 'auth:login', "
                "'success', '{}', :zero, :zero)"
            ),
            {"zero": "0" * 64},
        )
