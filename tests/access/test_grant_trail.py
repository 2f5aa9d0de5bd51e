"""A grant put back whole to an earlier sealed state allows nothing: the audit trail says what
the service took away from it.

An attacker's view: a DBA keeps a copy of a grant row and its columns (a backup) while the grant
is active. The grant is then revoked, narrowed or shortened through the service. The DBA puts
the copy back with SQL, seal included, as a competent one would (bumping the policy epoch and
the grant's `changed_epoch` so every process reloads it). The seal holds (the service did seal
that state once); the trail, which the DBA cannot roll back unnoticed, records the revocation,
narrowing or new end, so the next read is refused under rule `grant-trail`, recorded, and the
alert job opens an incident.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from governance.access import grants
from governance.access.live_grants import load_changes
from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.identity.actors import System
from governance.identity.models import User
from governance.incidents.alerts import open_from_broken_seals
from governance.incidents.models import Incident, IncidentKind
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.passport.visas import visa_grants
from tests.access.test_grant_seals import (
    api_read,
    as_the_dba,
    assert_shown_as_allowing_nothing,
    stored,
)
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import People

__all__ = ["stored"]  # the fixture, used by name

# Spelled out: these tests also run against the code from before the trail check.
GRANT_TRAIL = "grant-trail"

Snapshot = tuple[dict[str, Any], list[dict[str, Any]]]


def snapshot(app: Flask, grant_id: int) -> Snapshot:
    """The grant's row and its columns' rows, as a backup keeps them."""
    with database(app).engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM access_grant WHERE id = :id"), {"id": grant_id}
        ).one()
        columns = connection.execute(
            text("SELECT * FROM access_grant_column WHERE grant_id = :id"), {"id": grant_id}
        ).all()
    return dict(row._mapping), [dict(c._mapping) for c in columns]


def restore(app: Flask, kept: Snapshot) -> None:
    """Put the grant back as the snapshot has it, seal included, with the database alone."""
    row, columns = kept
    names = [n for n in row if n not in ("id", "changed_epoch")]
    assign = ", ".join(f"{n} = :{n}" for n in names)
    column_names = list(columns[0])
    as_the_dba(
        app,
        (
            f"UPDATE access_grant SET {assign}, changed_epoch = :epoch WHERE id = :id",  # noqa: S608
            {**{n: row[n] for n in names}, "id": row["id"]},
        ),
        ("DELETE FROM access_grant_column WHERE grant_id = :id", {"id": row["id"]}),
        *(
            (
                f"INSERT INTO access_grant_column ({', '.join(column_names)})"  # noqa: S608
                f" VALUES ({', '.join(':' + n for n in column_names)})",
                column,
            )
            for column in columns
        ),
    )


def assert_refused_by_trail(status: int, event: AuditEvent, grant_id: int) -> None:
    assert status == 403
    assert event.outcome == "denied"
    assert event.rule == GRANT_TRAIL
    assert grant_id in event.detail["grant_ids"]
    assert "integrity check" in event.detail["reason"]


def granted(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> int:
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    assert grant_id.grant_id is not None
    return grant_id.grant_id


def test_a_revoked_grant_restored_from_a_backup_allows_nothing(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    grant_id = granted(db, people, agreement, datasets)
    backup = snapshot(app, grant_id)
    grants.revoke_grant(db, grant_id=grant_id, reason="left", by=people.steward, now=utcnow())
    db.commit()
    restore(app, backup)
    assert fresh(db).get(Grant, grant_id).status == "active"  # type: ignore[union-attr]
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert_refused_by_trail(status, event, grant_id)
    # The alert job opens one incident for it, once, naming the rule.
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 1
    db.commit()
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    opened = fresh(db).scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.INCIDENT_FROM_ALERT)
    )
    [alert] = [e for e in opened if e.target_id == str(grant_id)]
    assert alert.rule == GRANT_TRAIL
    incident = fresh(db).get(Incident, alert.detail["incident_id"])
    assert incident is not None
    assert incident.kind == IncidentKind.AUDIT_ALERT
    assert "contradicts the audit trail" in incident.description


def test_a_narrowed_grant_restored_from_a_backup_allows_nothing(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    grant_id = granted(db, people, agreement, datasets)
    backup = snapshot(app, grant_id)
    grant = fresh(db).get(Grant, grant_id)
    assert grant is not None
    grants.narrow_grant(
        db,
        grant,
        keep=["age_at_arrest"],
        reason="minimum necessary",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    # Through the service: the kept column reads, the removed one is not granted.
    assert api_read(app, db, people, agreement, datasets, "age_at_arrest")[0] == 200
    assert api_read(app, db, people, agreement, datasets, "sex")[0] == 403
    restore(app, backup)
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert_refused_by_trail(status, event, grant_id)
    # The whole grant is suspect: its kept column is refused too, until granted again.
    status, event = api_read(app, db, people, agreement, datasets, "age_at_arrest")
    assert_refused_by_trail(status, event, grant_id)


def amend_in_force(db: Session, people: People, agreement: Agreement, **changes: object) -> None:
    builders.amend_in_force(db, people, agreement, reason="Shorter term", **changes)


def test_a_shortened_grant_restored_from_a_backup_allows_nothing(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """An amendment brings the agreement's end, and so the grant's, forward; the trail records
    the grant's new end. The old row, with its later end, put back, allows nothing."""
    grant_id = granted(db, people, agreement, datasets)
    backup = snapshot(app, grant_id)
    sooner = utcnow().date() + dt.timedelta(days=20)
    amend_in_force(db, people, agreement, expiry_date=sooner)
    shortened = fresh(db).get(Grant, grant_id)
    assert shortened is not None
    assert shortened.valid_until.date() <= sooner + dt.timedelta(days=1)
    assert api_read(app, db, people, agreement, datasets, "sex")[0] == 200
    restore(app, backup)
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert_refused_by_trail(status, event, grant_id)


def test_a_grant_granted_again_after_its_revocation_works(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """A revocation binds the grant revoked, not its holder: a new grant of the same columns
    reads, and nothing is reported."""
    first = granted(db, people, agreement, datasets)
    grants.revoke_grant(db, grant_id=first, reason="left", by=people.steward, now=utcnow())
    db.commit()
    second = granted(db, people, agreement, datasets)
    assert second != first
    assert api_read(app, db, people, agreement, datasets, "sex")[0] == 200
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0


def test_grants_changed_through_the_service_agree_with_the_trail(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """Narrowed, then shortened by an amendment, then loaded: every live grant is usable."""
    grant_id = granted(db, people, agreement, datasets)
    other = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    grant = fresh(db).get(Grant, grant_id)
    assert grant is not None
    grants.narrow_grant(db, grant, keep=["sex"], reason="fewer", by=people.steward, now=utcnow())
    db.commit()
    amend_in_force(db, people, agreement, expiry_date=utcnow().date() + dt.timedelta(days=20))
    loaded = dict(load_changes(fresh(db), -1))
    assert {grant_id, other} <= set(loaded)
    assert all(entry is not None and entry.sealed for entry in loaded.values())
    assert api_read(app, db, people, agreement, datasets, "sex")[0] == 200
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0


@pytest.mark.parametrize("many", [False, True])
def test_the_index_asks_the_trail_once_per_load(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    many: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One query on the trail per load, whether the grants are named (a few changed) or not
    (a first load of many), and the same answer either way."""
    from governance.access import trail_check  # (not on the code from before it)

    grant_id = granted(db, people, agreement, datasets)
    backup = snapshot(app, grant_id)
    grants.revoke_grant(db, grant_id=grant_id, reason="left", by=people.steward, now=utcnow())
    db.commit()
    restore(app, backup)
    if many:
        monkeypatch.setattr(trail_check, "NAMED_LIMIT", 0)
    statements: list[str] = []
    session = fresh(db)
    engine = session.get_bind()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "audit_event" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        loaded = dict(load_changes(session, -1))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    entry = loaded[grant_id]
    assert entry is not None
    assert not entry.sealed
    assert entry.broken_rule == GRANT_TRAIL


def test_a_revoked_grant_restored_is_neither_asserted_in_a_visa_nor_shown_as_usable(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """GA4GH visas and the grant's page read the grant rows directly, not through the index:
    the same comparison with the trail."""
    grant_id = granted(db, people, agreement, datasets)
    backup = snapshot(app, grant_id)
    grants.revoke_grant(db, grant_id=grant_id, reason="left", by=people.steward, now=utcnow())
    db.commit()
    restore(app, backup)
    analyst = fresh(db).get(User, people.analyst.id)
    assert analyst is not None
    assert [g.id for g in visa_grants(db, analyst, utcnow())] == []
    assert_shown_as_allowing_nothing(app, db, people, grant_id)
