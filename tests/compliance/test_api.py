"""The annual audit through the API: the steward's items, a decision (narrowing refuses the
next read of the removed column), the refusal of one's own grant, and the period's progress
for the compliance manager only."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.compliance import periods
from governance.compliance.models import AuditPeriod
from governance.identity import tokens
from governance.identity.models import User
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import SETUP, People


def token_of(db: Session, user: User) -> dict[str, str]:
    created = tokens.create_token(
        db, user_id=user.id, name="test", days=None, by=SETUP, now=utcnow()
    )
    db.commit()
    return {"Authorization": f"Bearer {created.secret}"}


def test_a_steward_certifies_through_the_api_and_the_manager_sees_progress(
    app: Flask,
    client: FlaskClient,
    db: Session,
    people: People,
    stored: Datasets,
    period: AuditPeriod,
) -> None:
    periods.start_certification(
        db,
        period_id=period.id,
        certify_by=utcnow() + dt.timedelta(days=7),
        by=people.compliance,
        now=utcnow(),
    )
    db.commit()
    steward = token_of(db, people.steward)
    manager = token_of(db, people.compliance)
    listed = client.get("/api/v1/compliance/certifications", headers=steward).get_json()
    assert [i["status"] for i in listed] == ["pending"]
    item_id = listed[0]["id"]
    assert listed[0]["columns_at_start"] == ["age_at_arrest", "sex"]

    answer = client.post(
        f"/api/v1/compliance/certifications/{item_id}",
        json={"decision": "narrow", "keep": ["sex"], "comment": "Age unused."},
        headers=manager,
    )
    assert answer.status_code == 403
    refusal = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert refusal is not None
    assert (refusal.event_type, refusal.outcome) == (
        AuditType.CERTIFICATION_NARROW,
        Outcome.DENIED,
    )
    answer = client.post(
        f"/api/v1/compliance/certifications/{item_id}",
        json={"decision": "narrow", "keep": ["sex"], "comment": "Age unused."},
        headers=steward,
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["removed_columns"] == ["age_at_arrest"]
    assert fresh(db).scalars(select(Grant)).one().column_names == ["sex"]
    again = client.post(
        f"/api/v1/compliance/certifications/{item_id}",
        json={"decision": "confirm"},
        headers=steward,
    )
    assert again.status_code == 409

    assert client.get(f"/api/v1/compliance/periods/{period.id}", headers=steward).status_code == 403
    shown = client.get(f"/api/v1/compliance/periods/{period.id}", headers=manager).get_json()
    assert shown["status"] == "certifying"
    assert shown["progress"]["decided"] == shown["progress"]["total"] == 1
    assert shown["progress"]["counts"]["narrowed"] == 1
