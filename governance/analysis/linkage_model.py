"""What probabilistic linkage leaves with a run: its report and the clerical review queue.

The report (`LinkageReport`) holds counts, rates, the weight distribution and the model's
trained parameters, never a name or a date. The queue (`LinkageReviewPair`) holds the pairs
that scored between the analysis' thresholds as the cohort file's row number and the register's
person key with their scores: the identifiers a reviewer compares are read through the data
door when the page is opened (recorded, and refused without the identifiers grant), never
copied here.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, created_at, intpk


class ReviewDecision(StrEnum):
    MATCH = "match"
    NON_MATCH = "non_match"

    @property
    def label(self) -> str:
        return "Same person" if self is ReviewDecision.MATCH else "Different people"


class LinkageReport(Base):
    __tablename__ = "linkage_report"

    id: Mapped[intpk]
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id"), unique=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSONText())
    created_at: Mapped[created_at]


class LinkageReviewPair(Base):
    __tablename__ = "linkage_review_pair"
    __table_args__ = (UniqueConstraint("run_id", "cohort_row"),)

    id: Mapped[intpk]
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    cohort_row: Mapped[int] = mapped_column(Integer)
    person_key: Mapped[str] = mapped_column(String(64))
    match_weight: Mapped[float] = mapped_column(Float)
    match_probability: Mapped[float] = mapped_column(Float)
    why: Mapped[str] = mapped_column(String(120))
    decision: Mapped[ReviewDecision | None] = mapped_column(String(20))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
