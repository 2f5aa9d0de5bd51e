"""Suspected incidents (an unauthorised disclosure, a lost device, access beyond scope, a
disclosive output), the agreements they involve, and the notification clocks the laws those
agreements cite start when the incident is reported.

While an incident is frozen, every grant under its agreements refuses reads (the freeze is a
condition of those grants: access/obligation_conditions.py).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, intpk, str320


class IncidentKind(StrEnum):
    UNAUTHORISED_DISCLOSURE = "unauthorised_disclosure"
    LOST_DEVICE = "lost_device"
    ACCESS_BEYOND_SCOPE = "access_beyond_scope"
    DISCLOSIVE_OUTPUT = "disclosive_output"
    AUDIT_ALERT = "audit_alert"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Incident(Base):
    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_status", "status", "frozen_at"),)

    id: Mapped[intpk]
    kind: Mapped[IncidentKind] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[IncidentStatus] = mapped_column(String(20), default=IncidentStatus.OPEN)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reported_by_label: Mapped[str320]
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Who and what else it names, as ids (people, datasets, outputs): the evidence pack and the
    # freeze read them; the agreements are rows below because grants are paused through them.
    user_ids: Mapped[list[int]] = mapped_column(JSONText(), default=list)
    dataset_ids: Mapped[list[int]] = mapped_column(JSONText(), default=list)
    output_ids: Mapped[list[int]] = mapped_column(JSONText(), default=list)
    frozen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    frozen_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    root_cause: Mapped[str] = mapped_column(Text, default="")
    actions_taken: Mapped[str] = mapped_column(Text, default="")

    agreements: Mapped[list[IncidentAgreement]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="IncidentAgreement.agreement_id"
    )
    clocks: Mapped[list[NotificationClock]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="NotificationClock.due_at"
    )

    @property
    def kind_label(self) -> str:
        return IncidentKind(self.kind).label

    @property
    def agreement_ids(self) -> list[int]:
        return [a.agreement_id for a in self.agreements]

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None and self.status == IncidentStatus.OPEN


class IncidentAgreement(Base):
    __tablename__ = "incident_agreement"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), primary_key=True
    )
    agreement_id: Mapped[int] = mapped_column(
        ForeignKey("agreement.id"), primary_key=True, index=True
    )


class NotificationClock(Base):
    """One notification a law (or the agreement) requires: to whom, by when, and when it was
    sent and acknowledged."""

    __tablename__ = "incident_clock"

    id: Mapped[intpk]
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    source: Mapped[str] = mapped_column(String(80))  # a law code, or the agreement clause
    recipient: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(Text)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
