"""What people see: the requester's view of who a request waits on and their one nudge per
period (409 for a second), each person's digest choice, the outbox an administrator searches,
training to renew, and a due date on every dashboard task."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import nudges
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.dashboard import web as dashboard_web
from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel.errors import Conflict, InvalidTransition
from governance.kernel.mail_model import OutboxMessage
from governance.kernel.types import utcnow
from governance.reminders import ledger
from governance.reminders.models import MailPreference
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.outputs.test_notifications import Inbox
from tests.reminders.test_schedule import BASE, SECRET_PURPOSE, ask
from tests.support import PASSWORD, People


def test_the_requester_sees_who_it_waits_on_and_may_nudge_once_per_period(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    mail: Inbox,
    browser: Browser,
) -> None:
    request = ask(db, people, agreement, datasets)
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Waiting on" in page
    assert people.steward.name in page
    assert "Send a polite reminder" in page
    mail.clear()

    sent = browser.post(f"/access/requests/{request.id}/nudge")
    assert sent.status_code == 302
    [(to, subject, body)] = mail.messages
    assert to == people.steward.email
    assert subject == f"[Data governance] A reminder about access request #{request.id}"
    assert f"{BASE}/access/requests/{request.id}" in body
    assert people.analyst.name in body
    assert SECRET_PURPOSE not in body
    event = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.ACCESS_REQUEST_NUDGE))
        .one()
    )
    assert event.target_id == str(request.id)

    again = browser.post(f"/access/requests/{request.id}/nudge")
    assert again.status_code == 409
    assert "already sent" in again.get_data(as_text=True)
    assert len(mail.messages) == 1
    page = browser.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Send a polite reminder" not in page
    assert "another may be sent from" in page

    # A service level later (5 days for a review), one more is allowed.
    later = utcnow() + dt.timedelta(days=5, minutes=1)
    assert nudges.nudge(db, request_id=request.id, by=people.analyst, now=later) == 1
    db.commit()
    with pytest.raises(Conflict):
        nudges.nudge(db, request_id=request.id, by=people.analyst, now=later)


def test_only_the_requester_nudges_and_only_while_it_waits(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, browser: Browser
) -> None:
    request = ask(db, people, agreement, datasets)
    browser.login(people.analyst2.email, PASSWORD)
    assert browser.post(f"/access/requests/{request.id}/nudge").status_code in {403, 404}
    from governance.access import requests

    requests.withdraw_request(db, request_id=request.id, by=people.analyst, now=utcnow())
    db.commit()
    with pytest.raises(InvalidTransition):
        nudges.nudge(db, request_id=request.id, by=people.analyst, now=utcnow())


def test_each_person_chooses_their_digest_on_their_account(
    db: Session, people: People, browser: Browser
) -> None:
    browser.login(people.analyst.email, PASSWORD)
    account = browser.get("/account/").get_data(as_text=True)
    assert "/account/mail" in account
    assert "No digest" in browser.get("/account/mail").get_data(as_text=True)
    assert browser.post("/account/mail", {"mail-digest": "weekly"}).status_code == 302
    chosen = fresh(db).get(MailPreference, people.analyst.id)
    assert chosen is not None
    assert chosen.digest == "weekly"
    assert browser.post("/account/mail", {"mail-digest": "hourly"}).status_code == 422
    assert fresh(db).get(MailPreference, people.analyst.id).digest == "weekly"  # type: ignore[union-attr]


def test_an_administrator_searches_the_outbox_and_nobody_else_sees_it(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    mail: Inbox,
    run: Any,
    browser: Browser,
    app: Flask,
) -> None:
    request = ask(db, people, agreement, datasets)
    run(ledger.remind_tasks, utcnow())
    assert mail.messages  # the job queue's worker sent them
    browser.login(people.admin.email, PASSWORD)
    # The day the message was written, not the test's today: the run may cross midnight UTC.
    written = fresh(db).scalars(
        select(OutboxMessage.created_at).where(
            OutboxMessage.recipient == people.steward.email, OutboxMessage.kind == "task_arrived"
        )
    )
    [day] = {moment.astimezone(dt.UTC).date().isoformat() for moment in written}
    found = browser.get(
        f"/admin/outbox?recipient={people.steward.email}&kind=task_arrived&status=sent&date={day}"
    ).get_data(as_text=True)
    assert f"New task: Review access request #{request.id}" in found
    assert "Sent" in found
    other = browser.get(f"/admin/outbox?recipient={people.steward.email}&kind=task_overdue")
    assert f"Review access request #{request.id}" not in other.get_data(as_text=True)
    assert browser.get("/admin/outbox?date=yesterday").status_code == 422
    assert browser.get("/admin/outbox?status=lost").status_code == 422

    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    assert officer.get("/admin/outbox").status_code == 403
    assert fresh(db).scalars(select(OutboxMessage)).first() is not None


def test_training_that_runs_out_soon_is_a_task_with_its_expiry_as_due_date(
    db: Session, people: People, mail: Inbox, run: Any, browser: Browser
) -> None:
    expires = utcnow().date() + dt.timedelta(days=10)
    db.add(
        TrainingRecord(
            user_id=people.checker.id,
            course=TrainingCourse.HIPAA_PRIVACY,
            completed_on=expires - dt.timedelta(days=365),
            expires_on=expires,
        )
    )
    db.commit()
    run(ledger.remind_tasks, utcnow())
    told = [m for m in mail.messages if m[0] == people.checker.email and "Renew" in m[1]]
    assert len(told) == 1
    assert f"Due: {expires}" in told[0][2]
    assert f"{BASE}/account/" in told[0][2]
    browser.login(people.checker.email, PASSWORD)
    page = browser.get("/dashboard/output_checker").get_data(as_text=True)
    assert "Renew your training: HIPAA Privacy and Security Rule training" in page
    assert expires.isoformat() in page


def test_a_task_without_a_workflow_deadline_gets_one_from_its_service_level(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from governance.access import requests

    request = ask(db, people, agreement, datasets)
    now = utcnow()
    requests.return_request(
        db, request_id=request.id, comment="Narrow it", by=people.steward, now=now
    )
    db.commit()
    # The dashboard dates the task from its today: the return's, even across midnight UTC.
    monkeypatch.setattr(dashboard_web, "utcnow", lambda: now)
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get("/dashboard/analyst").get_data(as_text=True)
    assert f"Request #{request.id} was returned" in page
    # "Request to revise": 14 days by default.
    assert (now.date() + dt.timedelta(days=14)).isoformat() in page
