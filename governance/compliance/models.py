"""The compliance manager's annual audit: an audit period and the access certification
campaign run inside it, one item per grant in force when the campaign started.

The seeds' Data Compliance Manager "oversees annual audits and staff trainings": a period
names the year under audit and its owner; while it is certifying, every steward confirms,
narrows or revokes each grant on their datasets by the deadline.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, created_at, intpk, str200


class PeriodStatus(StrEnum):
    OPEN = "open"
    CERTIFYING = "certifying"
    CLOSED = "closed"


class ItemStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    NARROWED = "narrowed"
    REVOKED = "revoked"


class AuditPeriod(Base):
    __tablename__ = "audit_period"

    id: Mapped[intpk]
    name: Mapped[str200]
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)  # the last day of the period
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[PeriodStatus] = mapped_column(String(20), default=PeriodStatus.OPEN)
    created_at: Mapped[created_at]
    certify_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    certification_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The campaign's counts when the period closed (decision -> count, and "overdue").
    result: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict)

    items: Mapped[list[CertificationItem]] = relationship(
        back_populates="period", order_by="CertificationItem.id", lazy="selectin"
    )


class CertificationItem(Base):
    """One grant to certify: what it held when the campaign started, and the steward's
    decision."""

    __tablename__ = "certification_item"
    __table_args__ = (
        UniqueConstraint("period_id", "grant_id", name="uq_certification_item_grant"),
        Index("ix_certification_item_dataset", "dataset_id", "status"),
    )

    id: Mapped[intpk]
    period_id: Mapped[int] = mapped_column(ForeignKey("audit_period.id"), index=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    columns_at_start: Mapped[str] = mapped_column(Text)
    status: Mapped[ItemStatus] = mapped_column(String(20), default=ItemStatus.PENDING)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    removed_columns: Mapped[str] = mapped_column(Text, default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    period: Mapped[AuditPeriod] = relationship(back_populates="items")

    def overdue(self, now: dt.datetime) -> bool:
        deadline = self.period.certify_by
        return self.status == ItemStatus.PENDING and deadline is not None and now > deadline
