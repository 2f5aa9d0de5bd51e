"""Progress reports on the schedule the agreement sets (`reporting.progress_months`): what was
done, the released outputs it produced and changes in the team; a privacy officer accepts or
returns each. A returned report is answered by a new report for the same period."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, intpk


class ReportStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class ProgressReport(Base):
    __tablename__ = "progress_report"
    __table_args__ = (Index("ix_progress_report_agreement", "agreement_id", "period_end"),)

    id: Mapped[intpk]
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    period_end: Mapped[dt.date] = mapped_column(Date)
    work_done: Mapped[str] = mapped_column(Text)
    team_changes: Mapped[str] = mapped_column(Text, default="")
    output_ids: Mapped[list[int]] = mapped_column(JSONText(), default=list)
    # The final report closes the reporting: what the project did over the whole agreement and
    # every output it produced (the close-out checklist needs one accepted).
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ReportStatus] = mapped_column(String(20), default=ReportStatus.SUBMITTED)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    comment: Mapped[str] = mapped_column(Text, default="")
