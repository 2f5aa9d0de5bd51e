"""E-mail: written to the outbox in the caller's transaction, sent by the job queue, retried.

A service calls `queue(session, ...)` (or `queue_template`) inside the caller's transaction: one
`mail_outbox` row per recipient is added to the same session, so a message exists exactly when
the change it reports committed, and a rollback leaves none. Right after the outermost commit
each new row gets a message on the job queue (`mail.send`, kernel/jobs.py): nothing is sent by
the process that committed (a web request never waits on, or fails with, an SMTP server). A
worker takes the message (`send_one`), sends it by SMTP (SMTP_HOST, SMTP_PORT, MAIL_SENDER) and
records the outcome on the row; a refused message is planned again on the queue after
MAIL_RETRY_MINUTES, doubling each time, until MAIL_MAX_ATTEMPTS, when it is recorded as failed.
The periodic sweep `requeue_due` (`mail.retry`) queues every due message no worker took (the
queue was down at the commit, a message was lost, a worker died mid-send). A failure never
undoes or breaks the action: the person also finds the task on their dashboard. With SMTP_HOST
empty nothing is queued or sent (recorded as not sent).

Every message is rendered from a template in templates/email/. Messages carry titles, states,
deadlines and links only, never figures or people's comments: e-mail leaves the secure
environment. The body is forgotten once the message is sent or given up.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, SessionTransaction

from governance.kernel import jobs
from governance.kernel.mail_model import MailStatus, OutboxMessage
from governance.kernel.types import utcnow

log = logging.getLogger(__name__)

OUTBOX_KEY = "governance.outbox"
TEXTS_KEY = "governance.outbox.texts"
SMTP_TIMEOUT_SECONDS = 10
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"
# Plain-text mail: nothing is HTML-escaped, and a missing variable is an error, not a blank.
_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,  # noqa: S701  (text/plain messages, never rendered as HTML)
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


def render(template: str, **context: Any) -> tuple[str, str]:
    """(subject, body) of templates/email/<template>: its first line is `Subject: ...`."""
    text = _templates.get_template(template).render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"templates/email/{template} must start with a 'Subject: ' line")
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n")


def queue(
    session: Session,
    *,
    to: Iterable[str],
    subject: str,
    body: str,
    kind: str = "notice",
    link: str = "",
) -> int:
    """One outbox row per recipient (nobody sees the others' addresses), in the caller's
    transaction; the text is put in the house frame (templates/email/notice.txt)."""
    _subject, framed = render("notice.txt", subject=subject, body=body.rstrip())
    return _add(session, to=to, subject=subject, body=framed, kind=kind, link=link)


def queue_template(
    session: Session, *, to: Iterable[str], template: str, kind: str, link: str, **context: Any
) -> int:
    """One message per recipient rendered from templates/email/<template>."""
    subject, body = render(template, link=link, **context)
    return _add(session, to=to, subject=subject, body=body, kind=kind, link=link)


def _add(
    session: Session, *, to: Iterable[str], subject: str, body: str, kind: str, link: str
) -> int:
    recipients = sorted(set(to))
    now = utcnow()
    mail_on = bool(_settings(session).get("SMTP_HOST"))
    rows = [
        OutboxMessage(
            recipient=address,
            kind=kind[:40],
            subject=subject[:300],
            link=link[:500],
            body=body if mail_on else None,
            # With SMTP_HOST empty the installation sends no mail: recorded, never queued.
            delivery=MailStatus.PENDING if mail_on else MailStatus.NOT_SENT,
            attempts=0,
            last_error="",
            next_attempt_at=now if mail_on else None,
        )
        for address in recipients
    ]
    session.add_all(rows)
    session.info.setdefault(TEXTS_KEY, []).extend(Message(a, subject, body) for a in recipients)
    if mail_on:
        session.info.setdefault(OUTBOX_KEY, []).extend(rows)
    else:
        for address in recipients:
            # Who would have been told what, for a demo or a test (never the body).
            log.info("notification not sent (SMTP_HOST is not set): to %s: %s", address, subject)
    return len(rows)


def pending(session: Session) -> list[Message]:
    """The messages this transaction will send when it commits."""
    return list(session.info.get(TEXTS_KEY, []))


def link(session: Session, path: str) -> str:
    """An absolute address for a page, from BASE_URL (services do not import Flask)."""
    base = str(_settings(session).get("BASE_URL", "")).rstrip("/")
    return f"{base}{path}"


def _settings(session: Session) -> Mapping[str, Any]:
    settings = session.info.get("settings")
    return settings if isinstance(settings, Mapping) else {}


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    # after_commit also fires when a savepoint is released; only the outermost commit
    # makes the change real.
    if session.in_nested_transaction():
        return
    session.info.pop(TEXTS_KEY, None)
    rows: list[OutboxMessage] = session.info.pop(OUTBOX_KEY, [])
    if not rows:
        return
    # The identity, not the attribute: an expired attribute would need SQL to load.
    ids = [int(key[0]) for key in (inspect(row).identity for row in rows) if key]
    # Only a message on the job queue: the worker sends it, never the committing process.
    try:
        queue = jobs.session_queue(session)
        for message_id in ids:
            jobs.send(queue, message_id, task=jobs.MAIL_TASK_NAME)
    except Exception:
        # The rows are committed as pending and due: the periodic sweep sends their messages.
        log.exception("could not queue %d committed message(s); the sweep will", len(ids))


@event.listens_for(Session, "after_transaction_end")
def _discard_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    session.info.pop(TEXTS_KEY, None)
    dropped = session.info.pop(OUTBOX_KEY, [])
    if dropped:
        log.info("discarding %d notification(s): their transaction did not commit", len(dropped))


def _due(now: dt.datetime) -> Any:
    return (
        select(OutboxMessage)
        .where(OutboxMessage.delivery == MailStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
    )


def requeue_due(session: Session, _actor: object, now: dt.datetime) -> int:
    """The periodic sweep: a queue message for every pending message whose time has come and
    that no worker took (its message was lost, the queue was down at the commit, or a worker
    died mid-attempt); returns how many. A message sent twice is taken once (`send_one`)."""
    due = [message.id for message in session.scalars(_due(now).limit(500))]
    for message_id in due:
        jobs.enqueue_after_commit(session, message_id, task=jobs.MAIL_TASK_NAME)
    return len(due)


def send_one(
    sessions: Callable[[], Session], message_id: int, *, now: dt.datetime | None = None
) -> str | None:
    """The worker's task: one attempt at one message, in two short transactions around the
    SMTP conversation (none is held open while a slow server answers). The attempt is claimed
    first (its next time moved past the attempt's time limit, so a worker that dies mid-send
    leaves it due again for the sweep); a refusal plans the retry on the job queue with a
    doubling wait. Returns the message's delivery afterwards, None when it was not due."""
    moment = now or utcnow()
    with sessions() as session:
        row = session.execute(
            select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
        ).scalar_one_or_none()
        if row is None or row.delivery != MailStatus.PENDING:
            return None
        if row.next_attempt_at is not None and row.next_attempt_at > moment:
            return None
        settings = dict(_settings(session))
        row.next_attempt_at = moment + dt.timedelta(seconds=2 * SMTP_TIMEOUT_SECONDS + 30)
        attempt = OutboxMessage(
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            delivery=MailStatus.PENDING,
            attempts=row.attempts,
            last_error="",
        )
        session.commit()
    deliver(settings, [attempt], moment)
    with sessions() as session:
        row = session.execute(
            select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
        ).scalar_one()
        if row.delivery != MailStatus.PENDING:
            return row.delivery  # settled meanwhile by another attempt
        row.delivery = attempt.delivery
        row.attempts = attempt.attempts
        row.last_error = attempt.last_error
        row.sent_at = attempt.sent_at
        row.next_attempt_at = (
            attempt.next_attempt_at if row.delivery == MailStatus.PENDING else None
        )
        if row.delivery != MailStatus.PENDING:
            row.body = None
        elif row.next_attempt_at is not None:
            wait = (row.next_attempt_at - moment).total_seconds()
            jobs.enqueue_after_commit(
                session, message_id, task=jobs.MAIL_TASK_NAME, delay=max(wait, 1.0)
            )
        delivery = row.delivery
        session.commit()
    return delivery


def deliver(
    settings: Mapping[str, Any], messages: Iterable[OutboxMessage], now: dt.datetime
) -> int:
    """Send by SMTP and record each outcome on its row; returns how many were sent."""
    messages = list(messages)
    if not messages:
        return 0
    host = str(settings.get("SMTP_HOST") or "")
    if not host:
        for message in messages:
            # Who would have been told what, for a demo or a test (never the body).
            log.info(
                "notification not sent (SMTP_HOST is not set): to %s: %s",
                message.recipient,
                message.subject,
            )
            message.delivery = MailStatus.NOT_SENT
            message.body = None
        return 0
    sender = str(settings.get("MAIL_SENDER") or "governance@localhost")
    try:
        with smtplib.SMTP(
            host, int(settings.get("SMTP_PORT") or 25), timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            for message in messages:
                _attempt(smtp, sender, message, settings, now)
    except (OSError, smtplib.SMTPException) as error:
        for message in messages:
            if message.delivery == MailStatus.PENDING and message.sent_at is None:
                _failed(message, settings, now, error)
    sent = sum(message.delivery == MailStatus.SENT for message in messages)
    if sent < len(messages):
        errors = sorted({m.last_error for m in messages if m.delivery != MailStatus.SENT})
        log.warning(
            "could not send %d of %d notification(s) through %s: %s",
            len(messages) - sent,
            len(messages),
            host,
            "; ".join(errors),
        )
    return sent


def _attempt(
    smtp: smtplib.SMTP,
    sender: str,
    message: OutboxMessage,
    settings: Mapping[str, Any],
    now: dt.datetime,
) -> None:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail.set_content(message.body or "")
    try:
        smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as error:
        _failed(message, settings, now, error)
        return
    message.attempts += 1
    message.delivery = MailStatus.SENT
    message.sent_at = now
    message.body = None
    message.last_error = ""


def _failed(
    message: OutboxMessage, settings: Mapping[str, Any], now: dt.datetime, error: Exception
) -> None:
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:300]
    if message.attempts >= int(settings.get("MAIL_MAX_ATTEMPTS") or 5):
        message.delivery = MailStatus.FAILED
        message.body = None
        return
    wait = int(settings.get("MAIL_RETRY_MINUTES") or 5) * 2 ** (message.attempts - 1)
    message.next_attempt_at = now + dt.timedelta(minutes=wait)
