"""The outbox: every e-mail the service sends, written in the transaction that caused it.

A row is written beside the change it reports, so a message exists exactly when its change
committed. The body is kept only until the message is sent or given up (it may carry a
single-use link); what stays is the record an administrator searches: recipient, kind,
subject, link, status, attempts and dates.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime, created_at, intpk, str40, str320


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # SMTP_HOST is empty: the installation sends no mail (a demo, a test), so nothing will retry.
    NOT_SENT = "not_sent"


MAIL_STATUS_LABELS = {
    MailStatus.PENDING: "Waiting to be sent",
    MailStatus.SENT: "Sent",
    MailStatus.FAILED: "Failed",
    MailStatus.NOT_SENT: "Not sent (mail is off)",
}


class OutboxMessage(Base):
    __tablename__ = "mail_outbox"

    id: Mapped[intpk]
    created_at: Mapped[created_at]
    recipient: Mapped[str320] = mapped_column(index=True)
    kind: Mapped[str40] = mapped_column(index=True)
    subject: Mapped[str] = mapped_column(String(300))
    link: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str | None] = mapped_column(Text)
    # How its delivery went: not a workflow's status (no person acts on it, no permission
    # guards it, the row is itself the record), so not named one.
    delivery: Mapped[str40] = mapped_column(index=True, default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
