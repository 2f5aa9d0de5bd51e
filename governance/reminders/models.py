"""What was told to whom about which task, and how often each person wants a digest.

`task_notice` is the ledger of tasks as the reminder job saw them: when each arrived for its
owner, when it is due, and which messages were sent (so none is sent twice, whichever worker
runs the job, and `governance expire --now` can move time forward over it).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import UTCDateTime, intpk, str40, timestamp


class Digest(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def label(self) -> str:
        return DIGEST_LABELS[self]


DIGEST_LABELS = {
    Digest.NONE: "No digest",
    Digest.DAILY: "Every day",
    Digest.WEEKLY: "Every week",
}
DIGEST_PERIODS = {Digest.DAILY: dt.timedelta(days=1), Digest.WEEKLY: dt.timedelta(days=7)}


class TaskNotice(Base):
    __tablename__ = "task_notice"
    __table_args__ = (UniqueConstraint("owner_id", "task_key"),)

    id: Mapped[intpk]
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    task_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    link: Mapped[str] = mapped_column(String(500))
    arrived_at: Mapped[timestamp]
    due_on: Mapped[dt.date] = mapped_column(Date)
    notice_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reminder_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    overdue_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set when the task no longer waits on its owner (done, or passed to someone else).
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)


class MailPreference(Base):
    __tablename__ = "mail_preference"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str40] = mapped_column(default=Digest.NONE)
    digest_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
