"""Exports: streamed CSV and JSON Lines with the chain head, formula cells neutralised, the
export recorded (and committed) before it streams, and only for `audit:export`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.queries import AuditFilter, export_select, stream_batches
from governance.kernel.extensions import database
from tests.audit.conftest import CliInvoker
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

HOSTILE_EMAIL = "=cmd|' /c calc'!a0@evil.example"


@pytest.fixture
def hostile(db: Session, people: People) -> int:
    """A failed login typed by an attacker, and a read whose target starts with '+'."""
    audit.record(
        db,
        AuditType.LOGIN_FAILED,
        by=None,
        outcome=Outcome.FAILURE,
        actor_email=HOSTILE_EMAIL,
        detail={"reason": "unknown account"},
    )
    seq = audit.record(
        db,
        AuditType.DATASET_READ,
        by=people.analyst,
        outcome=Outcome.ALLOWED,
        agreement_id=7,
        dataset_id=3,
        target_type="dataset",
        target_id="+44",
        rule="grant:1",
        detail={"columns": ["age"], "row_count": 10, "direct_identifier_columns": []},
    )
    db.commit()
    return seq


def csv_body(text: str) -> tuple[list[str], list[dict[str, str]]]:
    lines = text.splitlines()
    comments = [line for line in lines if line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(x for x in lines if not x.startswith("#")))))
    return comments, rows


def test_cli_csv_export_prints_the_head_and_neutralises_formulas(
    cli: CliInvoker, hostile: int, db: Session, tmp_path: Path
) -> None:
    out = tmp_path / "audit.csv"
    result = cli("audit", "export", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    comments, rows = csv_body(out.read_text())
    head_seq, head_hash = audit.chain_head(fresh(db))
    assert comments[0] == f"# audit chain head: seq={head_seq}, sha256={head_hash}"
    assert comments[-1] == f"# end of export: rows={len(rows)}"
    assert len(rows) == head_seq  # the export's own event is in the snapshot too
    failed = next(
        r for r in rows if r["event_type"] == "auth:login_failed" and "evil" in r["actor_email"]
    )
    assert failed["actor_email"] == "'" + HOSTILE_EMAIL
    read = next(r for r in rows if r["seq"] == str(hostile))
    assert read["target_id"] == "'+44"
    assert json.loads(read["detail"])["columns"] == ["age"]
    exported = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_EXPORT)
    ).one()
    assert exported.detail["format"] == "csv"
    assert exported.detail["head_seq"] == head_seq - 1


def test_cli_export_filters_by_period_and_type(
    cli: CliInvoker, hostile: int, tmp_path: Path
) -> None:
    out = tmp_path / "reads.jsonl"
    result = cli(
        "audit",
        "export",
        "--format",
        "jsonl",
        "--out",
        str(out),
        "--since",
        "2000-01-01",
        "--until",
        "2999-01-01",
        "--event-type",
        "dataset:read",
    )
    assert result.exit_code == 0, result.output
    meta, *events, end = [json.loads(line) for line in out.read_text().splitlines()]
    assert end == {"end_of_export": True, "rows": 1}
    assert set(meta["audit_chain_head"]) == {"seq", "sha256"}
    assert meta["filters"]["event_type"] == "dataset:read"
    assert [e["seq"] for e in events] == [hostile]
    assert events[0]["detail"]["row_count"] == 10


def test_cli_export_refuses_a_bad_date(cli: CliInvoker, people: People, tmp_path: Path) -> None:
    result = cli(
        "audit",
        "export",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "x.csv"),
        "--since",
        "2026-13-45",
    )
    assert result.exit_code == 1
    assert "since" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_page_export_streams_after_recording_it(
    browser: Browser, people: People, hostile: int, db: Session
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    response = browser.get("/audit/export?format=csv&outcome=failure")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.is_streamed
    comments, rows = csv_body(response.get_data(as_text=True))
    assert comments[0].startswith("# audit chain head: seq=")
    assert "outcome=failure" in comments[1]
    assert {r["outcome"] for r in rows} == {"failure"}
    exported = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_EXPORT))
        .one()
    )
    assert exported.actor_email == people.compliance.email
    assert exported.detail["filters"] == {"outcome": "failure"}


def test_page_jsonl_export(browser: Browser, people: People, hostile: int) -> None:
    browser.login(people.privacy.email, PASSWORD)
    response = browser.get("/audit/export?format=jsonl&agreement_id=7")
    assert response.status_code == 200
    meta, *events, end = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert "audit_chain_head" in meta
    assert [e["seq"] for e in events] == [hostile]
    # A file cut short lacks this last object, as a CSV lacks its "end of export" line.
    assert end == {"end_of_export": True, "rows": 1}


@pytest.mark.parametrize("role", ["analyst", "steward", "admin"])
def test_export_is_refused_without_the_permission_and_the_refusal_recorded(
    browser: Browser, people: People, db: Session, role: str
) -> None:
    user = getattr(people, role)
    browser.login(user.email, PASSWORD)
    response = browser.get("/audit/export?format=csv")
    assert response.status_code == 403
    denied = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_EXPORT))
        .one()
    )
    assert denied.outcome == Outcome.DENIED
    assert denied.actor_email == user.email
    assert denied.rule == "role-permission:audit:export"


@pytest.mark.parametrize("batch", [1, 2, 7, 5000])
def test_batches_from_the_drivers_cursor_hold_every_row_once(
    app: Flask, hostile: int, batch: int
) -> None:
    # The first row passes through SQLAlchemy (which may have buffered it), the rest come
    # from the driver's cursor: none may be lost or repeated, in any batch size.
    engine = database(app).read_engine()
    statement = export_select(AuditFilter(), engine.dialect.name)
    with engine.connect() as connection:
        expected = [tuple(row) for row in connection.execute(statement)]
        batches = list(stream_batches(connection, statement, batch))
        # The cursor is closed when the rows end: the connection takes another query.
        assert connection.execute(select(AuditEvent.seq).limit(1)).scalar() == 1
    assert [row for rows in batches for row in rows] == expected
    assert len(expected) >= hostile
    assert all(0 < len(rows) <= batch for rows in batches)
