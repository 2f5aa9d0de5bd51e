"""Every filter of the audit search finds a rare value through an index made for it, never by
walking the whole trail: the plans of the statements the search actually sends, on both
databases. `audit_event` has as few indexes as the filters need (each one costs every audited
decision a write), so dropping or narrowing one must fail here, not on a million events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from governance.audit import search as audit_search
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.audit.queries import AuditFilter
from governance.identity.actors import System
from tests.support import People

BULK = 400  # granted reads by the system, of agreement 1 and dataset 1
MONTH = (dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 4, 1, tzinfo=dt.UTC))


@pytest.fixture
def trail(db: Session, people: People) -> int:
    """A trail of granted reads with a few rare events among them; returns the newest seq."""
    system = System("reader")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(BULK):
        audit.record(
            db,
            AuditType.DATASET_READ,
            by=system,
            outcome=Outcome.ALLOWED,
            agreement_id=1,
            dataset_id=1,
            now=start + dt.timedelta(hours=i),
        )
    rare = [
        (AuditType.DATASET_READ, Outcome.DENIED),
        (AuditType.KEY_ROTATE, Outcome.SUCCESS),
        (AuditType.DATASET_DOWNLOAD, Outcome.ALLOWED),
        (AuditType.AUDIT_SEARCH, Outcome.FAILURE),
    ]
    for kind, outcome in rare:
        audit.record(
            db,
            kind,
            by=people.analyst,
            outcome=outcome,
            agreement_id=7,
            dataset_id=7,
            now=start + dt.timedelta(hours=BULK),
        )
    db.commit()
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ANALYZE audit_event"))
        db.commit()
    return int(audit.chain_head(db)[0])


# A filter for a rare value, and the index that must serve it.
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("person", {"user": "analyst@test.example"}, "ix_audit_event_email"),
    ("agreement", {"agreement_id": 7}, "ix_audit_event_agreement"),
    ("dataset", {"dataset_id": 7}, "ix_audit_event_dataset"),
    ("datasets by name", {"dataset_ids": (7, 8)}, "ix_audit_event_dataset"),
    ("type", {"event_type": AuditType.KEY_ROTATE}, "ix_audit_event_rare_type"),
    ("outcome denied", {"outcome": Outcome.DENIED}, "ix_audit_event_rare_outcome"),
    ("outcome failure", {"outcome": Outcome.FAILURE}, "ix_audit_event_rare_outcome"),
    (
        "bulk type, rare outcome",
        {"event_type": AuditType.DATASET_READ, "outcome": Outcome.DENIED},
        "ix_audit_event_rare_outcome",
    ),
    ("exports", {"kind": "exports"}, "ix_audit_event_rare_type"),
    ("period", {"since": MONTH[0], "until": MONTH[1]}, "ix_audit_event_time"),
]


@contextmanager
def _sent(db: Session) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT") and "audit_event" in sql:
            statements.append((sql, params))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def _plan(db: Session, sql: str, params: Any) -> str:
    connection = db.connection()
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
        return "\n".join(str(row[3]) for row in rows)
    # With so few rows a sequential scan costs little; what is checked is that an index made
    # for the filter answers it, as it must on a million events.
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(str(row[0]) for row in connection.exec_driver_sql("EXPLAIN " + sql, params))


def _lines_on_events(plan: str) -> list[str]:
    return [line.strip() for line in plan.splitlines() if "audit_event" in line]


@pytest.mark.parametrize(("name", "values", "index"), CASES, ids=[case[0] for case in CASES])
def test_a_rare_value_is_found_through_its_index(
    db: Session, trail: int, name: str, values: dict[str, Any], index: str
) -> None:
    if "user" in values:
        values = {**values, "emails": (values["user"],)}
    flt = AuditFilter(**values)
    # `before` the newest event: the page's statement and the count are both sent.
    with _sent(db) as statements:
        page = audit_search.search(db, flt, before=trail, by=System("auditor"), per_page=1)
    db.rollback()
    assert page.matched >= 0
    checked = 0
    for sql, params in statements:
        plan = _plan(db, sql, params)
        db.rollback()
        on_events = _lines_on_events(plan)
        if any("seq=?" in line or "pk_audit_event" in line for line in on_events):
            continue  # the page's anchor, looked up by its position
        checked += 1
        for line in on_events:
            assert "Seq Scan" not in line, (name, sql, plan)
            if line.startswith(("SEARCH", "SCAN")):  # SQLite
                assert line.startswith("SEARCH"), (name, sql, plan)
                assert index in line, (name, sql, plan)
        assert index in plan, (name, sql, plan)
    assert checked >= 2, statements  # the page and its count


def test_the_bulk_of_the_trail_is_paged_by_time(db: Session, trail: int) -> None:
    """Granted reads match most of the trail: their page is the newest events walked in
    order (the time index, which carries type and outcome), not a sort of every match."""
    flt = AuditFilter(event_type=AuditType.DATASET_READ, outcome=Outcome.ALLOWED)
    with _sent(db) as statements:
        page = audit_search.search(db, flt, before=None, by=System("auditor"), per_page=5)
    db.rollback()
    assert [e.event_type for e in page.events] == [AuditType.DATASET_READ] * 5
    assert page.matched == BULK
    plan = _plan(db, *statements[0])
    db.rollback()
    assert "ix_audit_event_time" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


def test_rare_filters_find_what_the_bulk_would_hide(db: Session, trail: int) -> None:
    """What the partial indexes leave out is still found: a search by type or outcome of the
    bulk's value, and of a rare one, returns the same events as without the index's help."""
    found = {
        name: audit_search.search(
            db, AuditFilter(**values), before=None, by=System("auditor"), per_page=500
        )
        for name, values in {
            "reads": {"event_type": AuditType.DATASET_READ},
            "allowed": {"outcome": Outcome.ALLOWED},
            "denied": {"outcome": Outcome.DENIED},
            "rotations": {"event_type": AuditType.KEY_ROTATE},
            "failures": {"outcome": Outcome.FAILURE},
        }.items()
    }
    db.rollback()
    assert found["reads"].matched == BULK + 1
    assert found["allowed"].matched == BULK + 1
    assert [(e.event_type, e.outcome) for e in found["denied"].events] == [
        (AuditType.DATASET_READ, Outcome.DENIED)
    ]
    assert [e.event_type for e in found["rotations"].events] == [AuditType.KEY_ROTATE]
    assert [e.event_type for e in found["failures"].events] == [AuditType.AUDIT_SEARCH]
