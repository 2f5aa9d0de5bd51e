"""What an agreement asks of the people working under it, over time: each person's acceptance
of the version's individual terms, the project's ethics approvals, and each person's periodic
attestation. Each row is written once and never edited (a correction is a new row), so what
held on a given day can always be read back.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, intpk, str200, str320


class Acceptance(Base):
    """A person confirmed, after re-entering their password, the individual terms of one
    version. `terms_sha256` is the hash of those terms: an acceptance also covers a later
    version whose individual terms hash the same (an amendment that did not change them)."""

    __tablename__ = "agreement_acceptance"
    __table_args__ = (Index("ix_agreement_acceptance_person", "user_id", "agreement_id"),)

    id: Mapped[intpk]
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    version_number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    terms_sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class EthicsApproval(Base):
    """An ethics board's (IRB / REC) approval of the project, as its letter states it.

    The approval is in force from the later of its approval date and the moment it was
    recorded until the end of its expiry date: recording a letter never makes earlier reads
    lawful after the fact. An amendment of the approval is a new row naming the one it amends.
    """

    __tablename__ = "ethics_approval"

    id: Mapped[intpk]
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"), index=True)
    board: Mapped[str200]
    reference: Mapped[str] = mapped_column(String(120))
    approved_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    protocol: Mapped[str] = mapped_column(Text, default="")
    amends_id: Mapped[int | None] = mapped_column(ForeignKey("ethics_approval.id"))
    # The approved protocol filed as an attachment of the agreement (agreement_attachment.id;
    # no foreign key: the attachment's file may be destroyed, its row and this link remain).
    protocol_attachment_id: Mapped[int | None] = mapped_column(Integer)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_by_label: Mapped[str320]
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Attestation(Base):
    """A person's periodic confirmation that they still need the access and kept the terms,
    with the copies of the data they hold outside the service."""

    __tablename__ = "attestation"
    __table_args__ = (Index("ix_attestation_person", "user_id", "agreement_id"),)

    id: Mapped[intpk]
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    attested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    still_needed: Mapped[bool] = mapped_column(Boolean)
    kept_terms: Mapped[bool] = mapped_column(Boolean)
    copies_outside: Mapped[list[str]] = mapped_column(JSONText())
    due_on: Mapped[dt.date] = mapped_column(Date)


class AttestationReminder(Base):
    """A reminder sent for one due date, so the daily job reminds each person once."""

    __tablename__ = "attestation_reminder"
    __table_args__ = (UniqueConstraint("user_id", "agreement_id", "due_on"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
