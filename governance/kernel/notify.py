"""E-mail notifications, sent only once the transaction that caused them has committed.

A service calls `queue(session, ...)` inside the caller's transaction; the messages wait in
`session.info` and are sent by SMTP (SMTP_HOST, SMTP_PORT, MAIL_SENDER) after the outermost
commit. A rollback discards them, so nobody is told about a change that did not happen. With
SMTP_HOST empty nothing is sent (logged at info). A failure to send is logged as a warning and
never undoes or breaks the action: the change is already committed, and the person also finds
the task on their dashboard.

Messages carry titles, states, deadlines and links only, never figures or people's comments:
e-mail leaves the secure environment.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

OUTBOX_KEY = "governance.outbox"
SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


def queue(session: Session, *, to: Iterable[str], subject: str, body: str) -> int:
    """Hold one message per recipient (nobody sees the others' addresses) until commit."""
    outbox: list[Message] = session.info.setdefault(OUTBOX_KEY, [])
    recipients = sorted(set(to))
    outbox.extend(Message(address, subject, body) for address in recipients)
    return len(recipients)


def pending(session: Session) -> list[Message]:
    return list(session.info.get(OUTBOX_KEY, []))


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
    messages = session.info.pop(OUTBOX_KEY, [])
    if messages:
        send(_settings(session), messages)


@event.listens_for(Session, "after_transaction_end")
def _discard_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    dropped = session.info.pop(OUTBOX_KEY, [])
    if dropped:
        log.info("discarding %d notification(s): their transaction did not commit", len(dropped))


def send(settings: Mapping[str, Any], messages: list[Message]) -> int:
    """Send by SMTP; returns how many were sent. Never raises."""
    host = settings.get("SMTP_HOST") or ""
    if not host:
        # One line per message, so that a demo or a test installation shows who would have
        # been told what (never the body: it may carry a single-use link).
        for message in messages:
            log.info(
                "notification not sent (SMTP_HOST is not set): to %s: %s",
                message.to,
                message.subject,
            )
        return 0
    sender = str(settings.get("MAIL_SENDER") or "governance@localhost")
    sent = 0
    try:
        with smtplib.SMTP(
            host, int(settings.get("SMTP_PORT") or 25), timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            for message in messages:
                mail = EmailMessage()
                mail["From"] = sender
                mail["To"] = message.to
                mail["Subject"] = message.subject
                mail.set_content(message.body)
                smtp.send_message(mail)
                sent += 1
    except (OSError, smtplib.SMTPException) as error:
        log.warning(
            "could not send %d of %d notification(s) through %s: %s",
            len(messages) - sent,
            len(messages),
            host,
            error,
        )
    return sent
