"""Helpers for the audit tests: the CLI against the test's database, an intruder who has
dropped the append-only triggers, and chains of events to work on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.cli import main
from governance.kernel import append_only
from governance.kernel.extensions import database
from tests.support import People

CHECKPOINT_EVERY = 5
APPEND_ONLY_TABLES = ("audit_event", "audit_checkpoint", "audit_timestamp")
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
def intruder(app: Flask) -> Iterator[Callable[..., None]]:
    """Run SQL as someone with database access who dropped the append-only triggers."""
    engine = database(app).engine
    dialect = engine.dialect.name
    with engine.begin() as connection:
        for table in APPEND_ONLY_TABLES:
            for statement in append_only.drop_statements(table, dialect):
                connection.exec_driver_sql(statement)

    def run(statement: str, **params: Any) -> None:
        with engine.begin() as connection:
            connection.execute(text(statement), params)

    yield run
    with engine.begin() as connection:
        for table in APPEND_ONLY_TABLES:
            for statement in append_only.create_statements(table, dialect):
                connection.exec_driver_sql(statement)
