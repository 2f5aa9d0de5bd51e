"""E-mail notifications go through a local SMTP server, only after the transaction commits,
never on rollback, and to the right people; a failing server never breaks the action."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.identity.models import User
from governance.kernel import notify
from governance.kernel.mail_model import MailStatus, OutboxMessage
from governance.kernel.types import utcnow
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from tests import mailqueue
from tests.conftest import fresh
from tests.mailqueue import smtp_server, work_mail
from tests.outputs.builders import DAY, T0, check_twice, produce
from tests.support import People, forge_the_next_event


@dataclass
class Inbox:
    """What the local SMTP server received: (recipient, subject, body) per message, once the
    job queue's worker (`worker`, set by the fixture: tests/mailqueue.py) has sent what waits."""

    received: list[tuple[str, str, str]] = field(default_factory=list)
    worker: Callable[[], object] | None = None
    # Refuse this many messages (a failing server: 451, "try again later") before accepting.
    refuse: int = 0

    @property
    def messages(self) -> list[tuple[str, str, str]]:
        if self.worker is not None:
            self.worker()
        return self.received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        mail = message_from_bytes(envelope.content)
        body = mail.get_payload(decode=True).decode()
        for recipient in envelope.rcpt_tos:
            self.received.append((recipient, str(mail["Subject"]), body))
        return "250 OK"

    def to(self, *people: User) -> set[str]:
        return {p.email for p in people}

    def recipients(self, subject_part: str = "") -> set[str]:
        return {to for to, subject, _ in self.messages if subject_part in subject}

    def clear(self) -> None:
        self.messages.clear()  # what waited on the queue is sent, then forgotten


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    with smtp_server(handler) as port:
        yield handler, port


@pytest.fixture
def app_config(database_url: str, inbox: tuple[Inbox, int]) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": inbox[1],
        "MAIL_SENDER": "governance@lab.example",
        "BASE_URL": "https://governance.lab.example",
    }


@pytest.fixture
def mail(inbox: tuple[Inbox, int], app: Flask) -> Inbox:
    inbox[0].worker = lambda: work_mail(app)
    return inbox[0]


def test_checkers_are_told_after_commit_and_not_before(
    db: Session, people: People, agreement: Agreement, mail: Inbox
) -> None:
    mail.clear()
    output = produce(db, people, agreement, commit=False)
    assert len(notify.pending(db)) == 3
    assert mail.messages == []  # nothing leaves before the commit
    db.commit()
    assert mail.recipients() == mail.to(people.checker, people.privacy, people.privacy2)
    _to, subject, body = mail.messages[0]
    assert subject == f"[Data governance] Output to check: {output.reference}"
    assert f"https://governance.lab.example/outputs/{output.id}" in body
    assert "120" not in body
    assert "1824" not in body


def test_nothing_is_sent_when_the_transaction_rolls_back(
    db: Session, people: People, agreement: Agreement, mail: Inbox
) -> None:
    mail.clear()
    produce(db, people, agreement, commit=False)
    db.rollback()
    assert notify.pending(db) == []
    db.commit()
    assert mail.messages == []


def test_a_savepoint_does_not_send_before_the_outer_commit(
    db: Session, people: People, agreement: Agreement, mail: Inbox
) -> None:
    mail.clear()
    with db.begin_nested():
        produce(db, people, agreement, commit=False)
    assert mail.messages == []
    db.rollback()
    assert mail.messages == []


def test_partner_reviewers_of_the_provider_are_told_when_the_preview_opens(
    db: Session, people: People, agreement: Agreement, mail: Inbox, other_partner: User
) -> None:
    output = produce(db, people, agreement)
    mail.clear()
    check_twice(db, people, output)
    assert mail.recipients("Output to preview") == mail.to(people.partner)
    body = next(b for _to, s, b in mail.messages if "Output to preview" in s)
    assert "identifiable information" in body
    assert "incorrect factual statement" in body


def test_the_analyst_is_told_of_flags_and_returns(
    db: Session, people: People, agreement: Agreement, mail: Inbox
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    mail.clear()
    output_preview.raise_flag(
        db,
        output_id=output.id,
        kind="factual_error",
        part="summary",
        comment="Mr Smith of 4 High Street is in this cell.",
        by=people.partner,
        now=T0 + DAY,
    )
    db.commit()
    assert mail.recipients() == mail.to(people.analyst)
    assert "Smith" not in mail.messages[0][2]  # the comment stays on the page

    returned = produce(db, people, agreement)
    mail.clear()
    outputs.check_output(
        db,
        output_id=returned.id,
        approve=False,
        reasons="Suppress more.",
        by=people.checker,
        now=T0,
    )
    db.commit()
    assert mail.recipients("returned") == mail.to(people.analyst)


def test_the_team_is_told_when_cleared_and_published(
    db: Session, people: People, agreement: Agreement, mail: Inbox
) -> None:
    from tests.outputs.builders import outputs_system

    output = check_twice(db, people, produce(db, people, agreement))
    mail.clear()
    output_preview.close_due_previews(db, outputs_system(), T0 + 31 * DAY)
    db.commit()
    assert mail.recipients("cleared") == mail.to(people.analyst, people.analyst2)
    mail.clear()
    outputs.publish_output(db, output_id=output.id, by=people.privacy, now=T0 + 32 * DAY)
    db.commit()
    assert mail.recipients("published") == mail.to(people.analyst, people.analyst2)


def test_nothing_is_sent_by_the_committing_process_only_by_the_queue(
    app: Flask, db: Session, people: People, agreement: Agreement, inbox: tuple[Inbox, int]
) -> None:
    """The action commits; its messages wait on the job queue; the SMTP server has heard
    nothing until a worker takes them."""
    server = inbox[0]  # without the fixture's worker: only what the server really received
    produce(db, people, agreement)
    db.commit()
    rows = fresh(db).scalars(select(OutboxMessage)).all()
    assert rows
    assert {r.delivery for r in rows} == {MailStatus.PENDING}
    assert {r.attempts for r in rows} == {0}
    assert server.received == []
    assert sorted(mailqueue.waiting(app)) == sorted(r.id for r in rows)
    assert mailqueue.work_mail(app) == len(rows)
    assert len(server.received) == len(rows)
    assert {r.delivery for r in fresh(db).scalars(select(OutboxMessage))} == {MailStatus.SENT}


def test_a_failing_mail_server_is_retried_by_the_queue_with_back_off_until_it_accepts(
    app: Flask, db: Session, people: People, agreement: Agreement, inbox: tuple[Inbox, int]
) -> None:
    server = inbox[0]
    server.refuse = 2  # the server answers "451 try again later" twice
    notify.queue(db, to=["a@x.example"], subject="Hello", body="A body")
    db.commit()  # the action never depends on the mail server
    [row] = fresh(db).scalars(select(OutboxMessage)).all()
    now = utcnow()

    assert mailqueue.work_mail(app, now) == 1
    row = fresh(db).get(OutboxMessage, row.id)
    assert row is not None
    assert (row.delivery, row.attempts) == (MailStatus.PENDING, 1)
    assert "451" in row.last_error
    assert "A body" in (row.body or "")  # kept until it is sent
    # The retry is planned on the queue itself, after MAIL_RETRY_MINUTES (5).
    [(again, when)] = mailqueue.scheduled(app)
    assert again == row.id
    assert dt.timedelta(minutes=4) < when - now <= dt.timedelta(minutes=6)
    assert mailqueue.work_mail(app, now + dt.timedelta(minutes=1)) == 0  # not yet

    assert mailqueue.work_mail(app, now + dt.timedelta(minutes=6)) == 1
    row = fresh(db).get(OutboxMessage, row.id)
    assert row is not None
    assert (row.delivery, row.attempts) == (MailStatus.PENDING, 2)
    assert [again for again, _ in mailqueue.scheduled(app)] == [row.id]
    assert row.next_attempt_at == now + dt.timedelta(minutes=6 + 10)  # the wait doubled

    assert mailqueue.work_mail(app, now + dt.timedelta(minutes=17)) == 1
    row = fresh(db).get(OutboxMessage, row.id)
    assert row is not None
    assert (row.delivery, row.attempts, row.body, row.last_error) == (
        MailStatus.SENT,
        3,
        None,
        "",
    )
    assert [m[:2] for m in server.received] == [("a@x.example", "Hello")]
    assert mailqueue.scheduled(app) == []


def test_a_message_taken_twice_is_sent_once(
    app: Flask, db: Session, people: People, inbox: tuple[Inbox, int]
) -> None:
    """Attacker's test (a duplicated queue message, the sweep and the first message both
    waiting): the row's claim lets one attempt through."""
    notify.queue(db, to=["a@x.example"], subject="Hello", body="A body")
    db.commit()
    [row] = fresh(db).scalars(select(OutboxMessage)).all()
    assert notify.requeue_due(db, None, utcnow()) == 1  # the sweep queues it again
    db.commit()
    assert mailqueue.waiting(app) == [row.id, row.id]
    assert mailqueue.work_mail(app) == 2
    assert len(inbox[0].received) == 1


def _message(to: str, subject: str, body: str) -> OutboxMessage:
    return OutboxMessage(recipient=to, subject=subject, body=body, delivery=MailStatus.PENDING)


def test_without_smtp_host_nothing_is_sent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="governance.kernel.notify"):
        sent = notify.deliver({"SMTP_HOST": ""}, [_message("a@x.example", "Hi", "Body")], T0)
    assert sent == 0
    assert any("SMTP_HOST is not set" in r.getMessage() for r in caplog.records)


def test_without_smtp_host_the_server_log_shows_each_notification(
    instance_path: Any, database_url: str, app: Any
) -> None:
    """The process of a server or command (not pytest, whose capture configures logging)."""
    import os
    import subprocess
    import sys

    script = (
        "from governance import create_app\n"
        "from governance.kernel import notify\n"
        "app = create_app()\n"
        "from governance.kernel.mail_model import OutboxMessage as M\n"
        "from governance.kernel.types import utcnow\n"
        "notify.deliver({'SMTP_HOST': ''}, [M(recipient='a@x.example', subject='Review due', "
        "body='secret link', delivery='pending'), M(recipient='b@x.example', "
        "subject='Review due', body='secret link', delivery='pending')], utcnow())\n"
    )
    env = {
        **os.environ,
        "GOVERNANCE_DATABASE_URL": database_url,
        "GOVERNANCE_INSTANCE_PATH": str(instance_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [line for line in done.stderr.splitlines() if "notification not sent" in line]
    assert len(lines) == 2, done.stderr
    assert "to a@x.example: Review due" in lines[0]
    assert "secret link" not in done.stderr


def test_a_failed_audit_write_stores_no_output_and_tells_no_one(
    db: Session, people: People, agreement: Agreement, mail: Inbox
) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.exc import DBAPIError

    from governance.outputs.models import Output

    mail.clear()
    db.rollback()
    with db.begin():  # the next event's sequence number collides with an existing one
        forge_the_next_event(db)
    with pytest.raises(DBAPIError):
        produce(db, people, agreement)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Output)) == 0
    assert mail.messages == []
