"""The compliance manager's training completion report: who is current, who lapses within 90
days and who has lapsed, per course each agreement's laws require; exported as CSV headed with
the audit chain head, the export recorded; nobody without audit:export gets it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.access import training_report
from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.agreements.builders import approved, make_datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

CJIS = TrainingCourse.CJIS_SECURITY_AWARENESS


def test_the_report_says_who_is_current_who_lapses_soon_and_who_has_lapsed(
    db: Session, people: People, browser: Browser
) -> None:
    datasets = make_datasets(db, people)
    agreement = approved(db, people, datasets)  # CJIS, analyst and analyst2
    today = utcnow().date()
    db.execute(
        delete(TrainingRecord).where(
            TrainingRecord.course == CJIS,
            TrainingRecord.user_id.in_([people.analyst.id, people.analyst2.id]),
        )
    )
    users.record_training(
        db,
        user_id=people.analyst.id,
        course=CJIS.value,
        completed_on=today - dt.timedelta(days=300),
        expires_on=today + dt.timedelta(days=30),
        by=SETUP,
    )
    db.commit()
    lines = {
        (line.email, line.course): line
        for line in training_report.training_lines(fresh(db), today=today)
    }
    soon = lines[(people.analyst.email, CJIS.label)]
    assert soon.status == "lapses_soon"
    assert soon.current_until == (today + dt.timedelta(days=30)).isoformat()
    assert soon.agreement == agreement.reference
    assert "CJIS" in soon.required_by
    assert lines[(people.analyst2.email, CJIS.label)].status == "lapsed"
    assert any(line.required_by == "every agreement" for line in lines.values())

    with pytest.raises(PermissionDenied):
        list(training_report.export_training_report(db, by=people.analyst, now=utcnow()))
    db.rollback()
    browser.login(people.compliance.email, PASSWORD)
    response = browser.get("/access/training-report.csv")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.startswith("# audit chain head: seq=")
    assert "lapses_soon" in text
    assert f"{people.analyst2.email},{agreement.reference}" in text
    event = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_REPORT))
        .one()
    )
    assert event.detail["report"] == "training"
