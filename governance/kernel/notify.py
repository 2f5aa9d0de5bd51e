"""E-mail: written to the outbox in the caller's transaction, sent once it commits, retried.

A service calls `queue(session, ...)` (or `queue_template`) inside the caller's transaction: one
`mail_outbox` row per recipient is added to the same session, so a message exists exactly when
the change it reports committed, and a rollback leaves none. Right after the outermost commit
the new rows are tried once by SMTP (SMTP_HOST, SMTP_PORT, MAIL_SENDER); a message the server
refused stays pending and the periodic job `retry_due` (on the job queue's scheduler, or
`governance expire`) tries it again with a doubling wait, until MAIL_MAX_ATTEMPTS, when it is
recorded as failed. A failure never undoes or breaks the action: the person also finds the
task on their dashboard. With SMTP_HOST empty nothing is sent (recorded as not sent).

Every message is rendered from a template in templates/email/. Messages carry titles, states,
deadlines and links only, never figures or people's comments: e-mail leaves the secure
environment. The body is forgotten once the message is sent or given up.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, SessionTransaction

from governance.kernel.mail_model import MailStatus, OutboxMessage
from governance.kernel.types import utcnow

log = logging.getLogger(__name__)

OUTBOX_KEY = "governance.outbox"
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
    # The first try is the committing process's, right after the commit; the periodic job
    # takes a message only once its wait is over (after a crash between commit and send).
    first_retry = utcnow() + dt.timedelta(
        minutes=int(_settings(session).get("MAIL_RETRY_MINUTES") or 5)
    )
    rows = [
        OutboxMessage(
            recipient=address,
            kind=kind[:40],
            subject=subject[:300],
            link=link[:500],
            body=body,
            delivery=MailStatus.PENDING,
            attempts=0,
            last_error="",
            next_attempt_at=first_retry,
        )
        for address in recipients
    ]
    session.add_all(rows)
    session.info.setdefault(OUTBOX_KEY, []).extend(rows)
    return len(rows)


def pending(session: Session) -> list[Message]:
    """The messages this transaction will send when it commits."""
    return [Message(m.recipient, m.subject, m.body or "") for m in session.info.get(OUTBOX_KEY, [])]


def link(session: Session, path: str) -> str:
    """An absolute address for a page, from BASE_URL (services do not import Flask)."""
    base = str(_settings(session).get("BASE_URL", "")).rstrip("/")
    return f"{base}{path}"


def _settings(session: Session) -> Mapping[str, Any]:
    settings = session.info.get("settings")
    return settings if isinstance(settings, Mapping) else {}


@event.listens_for(Session, "after_commit")
def _send_committed(session: Session) -> None:
    # after_commit also fires when a savepoint is released; only the outermost commit
    # makes the change real.
    if session.in_nested_transaction():
        return
    rows: list[OutboxMessage] = session.info.pop(OUTBOX_KEY, [])
    if not rows:
        return
    # The identity, not the attribute: an expired attribute would need SQL to load.
    ids = [int(key[0]) for key in (inspect(row).identity for row in rows) if key]
    # The committed session may not run SQL inside this event: a session of its own does.
    try:
        with Session(bind=session.get_bind(), info=dict(session.info)) as sender:
            deliver(_settings(session), sender.scalars(_pending(ids)).all(), utcnow())
            sender.commit()
    except Exception:
        # The rows are committed as pending: the periodic job tries them again.
        log.exception("could not send %d committed message(s); they will be retried", len(ids))


@event.listens_for(Session, "after_transaction_end")
def _discard_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    dropped = session.info.pop(OUTBOX_KEY, [])
    if dropped:
        log.info("discarding %d notification(s): their transaction did not commit", len(dropped))


def _pending(ids: list[int] | None = None, *, due_at: dt.datetime | None = None) -> Any:
    query = select(OutboxMessage).where(OutboxMessage.delivery == MailStatus.PENDING)
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    if due_at is not None:
        query = query.where(OutboxMessage.next_attempt_at <= due_at)
    return query.order_by(OutboxMessage.id).with_for_update(skip_locked=True)


def retry_due(session: Session, _actor: object, now: dt.datetime) -> int:
    """The periodic job: try again every pending message whose wait is over; returns how
    many were sent."""
    return deliver(_settings(session), session.scalars(_pending(due_at=now)).all(), now)


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
