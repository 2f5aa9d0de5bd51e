"""Progress reports on the agreement's schedule: personnel submit, another privacy officer
accepts or returns; a report cannot list outputs the checkers never released, nor be decided
by the person who wrote it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.obligations import add_months
from governance.agreements.progress_model import ReportStatus
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.errors import InvalidTransition, PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from governance.outputs import progress_reports as progress
from tests.agreements.builders import Datasets, approved
from tests.conftest import fresh
from tests.support import People


def test_reports_fall_due_on_the_agreements_schedule_and_are_decided_by_another(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets, progress_months=6)
    start = agreement.current_version.effective_date  # type: ignore[union-attr]
    first = add_months(start, 6)
    later = dt.datetime.combine(first + dt.timedelta(days=3), dt.time(9), tzinfo=dt.UTC)
    assert progress.outstanding(db, agreement.id, utcnow()) == []
    assert progress.outstanding(db, agreement.id, later) == [first]

    with pytest.raises(ValidationFailed) as wrong_period:
        progress.submit_report(
            db,
            agreement_id=agreement.id,
            period_end=first + dt.timedelta(days=1),
            work_done="x",
            team_changes="",
            output_ids=[],
            by=people.analyst,
            now=later,
        )
    assert "period_end" in wrong_period.value.fields
    db.rollback()
    # An output that does not exist, or is not this agreement's released work, is refused.
    with pytest.raises(ValidationFailed) as outputs:
        progress.submit_report(
            db,
            agreement_id=agreement.id,
            period_end=first,
            work_done="Matched comparison run.",
            team_changes="",
            output_ids=[424242],
            by=people.analyst,
            now=later,
        )
    assert "424242" in outputs.value.fields["output_ids"]
    db.rollback()
    # Only the agreement's personnel report.
    with pytest.raises(PermissionDenied):
        progress.submit_report(
            db,
            agreement_id=agreement.id,
            period_end=first,
            work_done="x",
            team_changes="",
            output_ids=[],
            by=people.steward,
            now=later,
        )
    db.rollback()

    report = progress.submit_report(
        db,
        agreement_id=agreement.id,
        period_end=first,
        work_done="Cohort described.",
        team_changes="Analyst two joined.",
        output_ids=[],
        by=people.analyst,
        now=later,
    )
    db.commit()
    assert progress.outstanding(db, agreement.id, later) == []
    with pytest.raises(ValidationFailed):
        progress.submit_report(
            db,
            agreement_id=agreement.id,
            period_end=first,
            work_done="Again.",
            team_changes="",
            output_ids=[],
            by=people.analyst2,
            now=later,
        )
    db.rollback()
    with pytest.raises(PermissionDenied):
        progress.decide_report(
            db, report_id=report.id, accept=True, comment="", by=people.steward, now=later
        )
    db.rollback()
    with pytest.raises(ValidationFailed):  # returning says why
        progress.decide_report(
            db, report_id=report.id, accept=False, comment="", by=people.privacy, now=later
        )
    db.rollback()
    progress.decide_report(
        db,
        report_id=report.id,
        accept=False,
        comment="List the outputs.",
        by=people.privacy,
        now=later,
    )
    db.commit()
    assert progress.outstanding(db, agreement.id, later) == [first]
    with pytest.raises(InvalidTransition):
        progress.decide_report(
            db, report_id=report.id, accept=True, comment="", by=people.privacy2, now=later
        )
    db.rollback()
    again = progress.submit_report(
        db,
        agreement_id=agreement.id,
        period_end=first,
        work_done="Cohort described.",
        team_changes="",
        output_ids=[],
        by=people.analyst,
        now=later,
    )
    progress.decide_report(
        db, report_id=again.id, accept=True, comment="", by=people.privacy, now=later
    )
    db.commit()
    assert fresh(db).get(type(again), again.id).status == ReportStatus.ACCEPTED  # type: ignore[union-attr]
    kinds = [
        e.event_type
        for e in db.scalars(
            select(AuditEvent)
            .where(AuditEvent.target_type == "progress_report")
            .order_by(AuditEvent.seq)
        )
    ]
    assert kinds == [
        AuditType.PROGRESS_REPORT_SUBMIT,
        AuditType.PROGRESS_REPORT_RETURN,
        AuditType.PROGRESS_REPORT_SUBMIT,
        AuditType.PROGRESS_REPORT_ACCEPT,
    ]


def test_a_privacy_officer_on_the_personnel_cannot_accept_their_own_report(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(
        db,
        people,
        datasets,
        progress_months=1,
        personnel={people.analyst.id: "principal_investigator", people.privacy.id: "analyst"},
    )
    first = add_months(agreement.current_version.effective_date, 1)  # type: ignore[union-attr]
    later = dt.datetime.combine(first, dt.time(9), tzinfo=dt.UTC)
    report = progress.submit_report(
        db,
        agreement_id=agreement.id,
        period_end=first,
        work_done="Done.",
        team_changes="",
        output_ids=[],
        by=people.privacy,
        now=later,
    )
    db.commit()
    with pytest.raises(PermissionDenied) as own:
        progress.decide_report(
            db, report_id=report.id, accept=True, comment="", by=people.privacy, now=later
        )
    assert own.value.audit is not None


def test_the_obligations_page_takes_a_report_and_a_privacy_officer_accepts_it(
    app: object, db: Session, people: People, datasets: Datasets
) -> None:
    from flask import Flask

    from governance.agreements.progress_model import ProgressReport
    from tests.conftest import Browser
    from tests.support import PASSWORD

    assert isinstance(app, Flask)
    agreement = approved(db, people, datasets, progress_months=6)
    start = agreement.current_version.effective_date  # type: ignore[union-attr]
    analyst = Browser(app.test_client())
    analyst.login(people.analyst.email, PASSWORD)
    page = analyst.get(f"/agreements/{agreement.id}/progress").get_data(as_text=True)
    assert "Progress reports (every 6 months)" in page
    sent = analyst.post(
        f"/agreements/{agreement.id}/progress",
        data={"period_end": add_months(start, 6).isoformat(), "work_done": "Cohort described."},
    )
    assert sent.status_code == 302
    report = fresh(db).scalars(select(ProgressReport)).one()
    assert analyst.post(f"/agreements/progress/{report.id}/accept").status_code == 403
    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    assert officer.post(f"/agreements/progress/{report.id}/accept").status_code == 302
    assert fresh(db).get(ProgressReport, report.id).status == "accepted"  # type: ignore[union-attr]
