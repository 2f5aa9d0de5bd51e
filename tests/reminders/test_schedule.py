"""Nothing waits unseen: the owner of a task is told when it arrives, before it is due and when
it is overdue (and the privacy officers then too), each once; digests come daily, weekly or
never as each person chose; a message the server refuses is retried, then recorded as failed;
and no message ever carries a request's justification, a comment or row data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import AccessRequest
from governance.agreements.models import Agreement
from governance.cli import main
from governance.kernel import notify
from governance.kernel.mail_model import MailStatus, OutboxMessage
from governance.kernel.types import utcnow
from governance.reminders import digest, ledger
from governance.reminders.models import TaskNotice
from tests import mailqueue
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.outputs.test_notifications import Inbox
from tests.support import People

BASE = "https://governance.lab.example"
SECRET_PURPOSE = "Cohort of SECRET-JUSTIFICATION-4711 arrests"
SECRET_COMMENT = "SECRET-COMMENT-0815 says the column is too revealing"


def ask(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> AccessRequest:
    request = requests.submit_request(
        db,
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=("sex", "age_at_arrest"),
        purpose="descriptive",
        justification=SECRET_PURPOSE,
        end_date=utcnow().date() + dt.timedelta(days=60),
        download=False,
        by=people.analyst,
        now=utcnow(),
    )
    db.commit()
    return request


def about(mail: Inbox, to: str, words: str) -> list[tuple[str, str, str]]:
    return [m for m in mail.messages if m[0] == to and words in m[1]]


def test_the_owner_is_told_on_arrival_before_due_and_when_overdue_each_once(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, mail: Inbox, run: Any
) -> None:
    request = ask(db, people, agreement, datasets)
    now = utcnow()
    title = f"Review access request #{request.id}"
    page = f"{BASE}/access/requests/{request.id}"
    due = (request.submitted_at or now).date() + dt.timedelta(days=5)
    mail.clear()

    run(ledger.remind_tasks, now)
    [(_to, subject, body)] = about(mail, people.steward.email, title)
    assert subject == f"[Data governance] New task: {title} (2 columns)"
    assert page in body
    assert f"Due: {due}" in body
    assert "Request to review" in body

    run(ledger.remind_tasks, now + dt.timedelta(hours=1))
    assert len(about(mail, people.steward.email, title)) == 1  # never twice

    run(ledger.remind_tasks, now + dt.timedelta(days=3))  # two days before it is due
    reminders = about(mail, people.steward.email, f"Due {due}")
    assert len(reminders) == 1
    assert page in reminders[0][2]
    run(ledger.remind_tasks, now + dt.timedelta(days=4))
    assert len(about(mail, people.steward.email, f"Due {due}")) == 1

    run(ledger.remind_tasks, now + dt.timedelta(days=6))  # overdue
    [(_to, _subject, overdue)] = about(mail, people.steward.email, "Overdue:")
    assert f"was due on {due}" in overdue
    assert page in overdue
    assert people.privacy.name in overdue
    assert people.privacy2.name in overdue
    for officer in (people.privacy, people.privacy2):
        [(_to, subject, escalated)] = about(
            mail, officer.email, f"Overdue with {people.steward.name}"
        )
        assert title in subject
        assert page in escalated
    run(ledger.remind_tasks, now + dt.timedelta(days=9))
    assert len(about(mail, people.steward.email, "Overdue:")) == 1
    assert len(about(mail, people.privacy.email, "Overdue with")) == 1

    # Decided: the task closes, and nothing more is said about it.
    requests.steward_approve(
        db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()
    run(ledger.remind_tasks, now + dt.timedelta(days=10))
    row = (
        fresh(db)
        .scalars(
            select(TaskNotice).where(
                TaskNotice.owner_id == people.steward.id, TaskNotice.title.startswith(title)
            )
        )
        .one()
    )
    assert row.closed_at is not None
    sent = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "task_escalated")).all()
    assert {m.delivery for m in sent} == {MailStatus.SENT}
    assert all(m.body is None and m.link == page for m in sent)  # the record keeps no body


def test_governance_expire_moves_time_for_the_reminders(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    app: Any,
    commands: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = ask(db, people, agreement, datasets)
    for name in ("DATABASE_URL", "SMTP_HOST", "SMTP_PORT", "BASE_URL"):
        monkeypatch.setenv(f"GOVERNANCE_{name}", str(app.config[name]))
    later = (utcnow() + dt.timedelta(days=8)).isoformat()
    for moment in (utcnow().isoformat(), later):
        result = commands.invoke(main, ["expire", "--apply", "--now", moment])
        assert result.exit_code == 0, result.output
    assert "tasks.reminders" in result.output
    rows = fresh(db).scalars(
        select(OutboxMessage).where(OutboxMessage.link.endswith(f"/{request.id}"))
    )
    kinds = {(m.recipient, m.kind) for m in rows}
    assert (people.steward.email, "task_arrived") in kinds
    assert (people.steward.email, "task_overdue") in kinds
    assert (people.privacy.email, "task_escalated") in kinds


def test_digests_come_daily_weekly_or_never_as_each_person_chose(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, mail: Inbox, run: Any
) -> None:
    request = ask(db, people, agreement, datasets)
    now = utcnow()
    run(ledger.remind_tasks, now)
    digest.set_digest(db, user=people.steward, digest="daily", by=people.steward)
    digest.set_digest(db, user=people.privacy, digest="none", by=people.privacy)
    db.commit()
    mail.clear()

    def digests(person: Any) -> list[tuple[str, str, str]]:
        return about(mail, person.email, "digest")

    for hours in (0, 12, 24, 30, 48):
        run(digest.send_digests, now + dt.timedelta(hours=hours))
    daily = digests(people.steward)
    assert len(daily) == 3  # at 0, 24 and 48 hours
    assert "Your daily digest" in daily[0][1]
    assert f"Review access request #{request.id}" in daily[0][2]
    assert f"{BASE}/access/requests/{request.id}" in daily[0][2]
    assert f"{BASE}/account/mail" in daily[0][2]
    assert digests(people.privacy) == []

    digest.set_digest(db, user=people.steward, digest="weekly", by=people.steward)
    db.commit()
    for days in (3, 5, 9, 10):
        run(digest.send_digests, now + dt.timedelta(days=days))
    assert len(digests(people.steward)) == 4  # one more, a week after the last
    assert "Your weekly digest" in digests(people.steward)[-1][1]

    digest.set_digest(db, user=people.steward, digest="none", by=people.steward)
    db.commit()
    run(digest.send_digests, now + dt.timedelta(days=30))
    assert len(digests(people.steward)) == 4


def test_a_refused_message_is_retried_by_the_queue_then_recorded_as_failed(
    app: Flask, db: Session, people: People, inbox: tuple[Inbox, int]
) -> None:
    server = inbox[0]
    server.refuse = 100  # a server that keeps answering "try again later"
    notify.queue(db, to=["a@x.example"], subject="Hello", body="A body")
    db.commit()
    now = utcnow()
    assert mailqueue.work_mail(app, now) == 1
    [first] = fresh(db).scalars(select(OutboxMessage)).all()
    assert (first.delivery, first.attempts) == (MailStatus.PENDING, 1)
    assert first.next_attempt_at == now + dt.timedelta(minutes=5)
    assert "451" in first.last_error
    assert mailqueue.work_mail(app, now + dt.timedelta(minutes=4)) == 0  # its wait is not over
    assert mailqueue.work_mail(app, now + dt.timedelta(minutes=6)) == 1
    [first] = fresh(db).scalars(select(OutboxMessage)).all()
    assert (first.delivery, first.attempts) == (MailStatus.PENDING, 2)
    assert first.next_attempt_at == now + dt.timedelta(minutes=6 + 10)
    assert mailqueue.work_mail(app, now + dt.timedelta(minutes=17)) == 1
    [first] = fresh(db).scalars(select(OutboxMessage)).all()
    # MAIL_MAX_ATTEMPTS is 3 here: given up, recorded, its body forgotten, no retry planned.
    assert (first.delivery, first.attempts, first.body) == (MailStatus.FAILED, 3, None)
    assert mailqueue.scheduled(app) == []
    assert mailqueue.work_mail(app, now + dt.timedelta(days=1)) == 0
    assert server.received == []


def test_a_message_whose_queue_message_was_lost_is_sent_by_the_sweep(
    app: Flask, db: Session, inbox: tuple[Inbox, int]
) -> None:
    server = inbox[0]
    notify.queue(db, to=["a@x.example"], subject="Hello", body="A body", kind="notice")
    db.info.pop(notify.OUTBOX_KEY)  # the queue message is lost between the commit and the queue
    db.commit()
    [waiting] = fresh(db).scalars(select(OutboxMessage)).all()
    assert (waiting.delivery, waiting.attempts) == (MailStatus.PENDING, 0)
    assert mailqueue.waiting(app) == []
    assert mailqueue.work_mail(app) == 0
    assert server.received == []
    assert notify.requeue_due(db, None, utcnow()) == 1
    db.commit()
    assert mailqueue.waiting(app) == [waiting.id]
    assert mailqueue.work_mail(app) == 1
    assert [m[:2] for m in server.received] == [("a@x.example", "Hello")]
    assert notify.requeue_due(db, None, utcnow() + dt.timedelta(hours=1)) == 0
    db.commit()
    assert len(server.received) == 1


def test_a_message_whose_worker_died_mid_send_is_sent_again_after_its_time_limit(
    app: Flask, db: Session, inbox: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = inbox[0]
    notify.queue(db, to=["a@x.example"], subject="Hello", body="A body")
    db.commit()

    def killed(*_args: Any) -> int:
        raise SystemExit("the worker is killed while the server has not answered")

    monkeypatch.setattr(notify, "deliver", killed)
    now = utcnow()
    with pytest.raises(SystemExit):
        mailqueue.work_mail(app, now)
    monkeypatch.undo()
    [row] = fresh(db).scalars(select(OutboxMessage)).all()
    assert row.delivery == MailStatus.PENDING
    assert notify.requeue_due(db, None, now + dt.timedelta(seconds=30)) == 0  # may be sending
    assert notify.requeue_due(db, None, now + dt.timedelta(minutes=2)) == 1
    db.commit()
    assert mailqueue.work_mail(app, now + dt.timedelta(minutes=2)) == 1
    assert [m[0] for m in server.received] == ["a@x.example"]


def test_no_message_carries_a_justification_a_comment_or_row_data(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, mail: Inbox, run: Any
) -> None:
    """Attacker's test: e-mail leaves the secure environment; the task's detail on the
    dashboard may quote the steward's comment, the e-mail must not."""
    request = ask(db, people, agreement, datasets)
    requests.return_request(
        db, request_id=request.id, comment=SECRET_COMMENT, by=people.steward, now=utcnow()
    )
    db.commit()
    digest.set_digest(db, user=people.analyst, digest="daily", by=people.analyst)
    db.commit()
    now = utcnow()
    for days in (0, 3, 20):
        run(ledger.remind_tasks, now + dt.timedelta(days=days))
        run(digest.send_digests, now + dt.timedelta(days=days))
    mine = [m for m in mail.messages if m[0] == people.analyst.email]
    assert any(f"Request #{request.id} was returned" in m[1] for m in mine)
    assert any("digest" in m[1] for m in mine)
    for _to, subject, body in mail.messages:
        for secret in ("SECRET-JUSTIFICATION", "SECRET-COMMENT", "age_at_arrest"):
            assert secret not in subject
            assert secret not in body
    stored = fresh(db).scalars(select(OutboxMessage)).all()
    assert stored
    assert all(m.body is None for m in stored)
