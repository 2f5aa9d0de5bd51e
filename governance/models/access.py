"""Access requests, the time-limited column grants that answer them, and the policy epoch.

A grant is (user, agreement, dataset, columns, purpose, valid until): the minimum-necessary
rule made concrete. Grants are never deleted; revoking or expiring one changes its status and
bumps the policy epoch in the same transaction, which tells every server process to refresh
its view of the grants before its next decision.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.db import Base
from governance.models.types import UTCDateTime, created_at, intpk


class DataAction(StrEnum):
    READ = "read"
    DOWNLOAD = "download"


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"
    AWAITING_PRIVACY_OFFICER = "awaiting_privacy_officer"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class GrantStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class AccessRequest(Base):
    __tablename__ = "access_request"
    __table_args__ = (Index("ix_access_request_status", "status", "dataset_id"),)

    id: Mapped[intpk]
    requester_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    end_date: Mapped[dt.date] = mapped_column(Date)
    download_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[RequestStatus] = mapped_column(String(40), default=RequestStatus.SUBMITTED)
    created_at: Mapped[created_at]
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    steward_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    steward_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    steward_comment: Mapped[str] = mapped_column(Text, default="")
    privacy_officer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    privacy_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    privacy_comment: Mapped[str] = mapped_column(Text, default="")
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("access_grant.id"))

    columns: Mapped[list[AccessRequestColumn]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AccessRequestColumn.position")

    @property
    def requested_columns(self) -> list[str]:
        return [c.column_name for c in self.columns]

    @property
    def approved_columns(self) -> list[str]:
        return [c.column_name for c in self.columns if c.approved]


class AccessRequestColumn(Base):
    __tablename__ = "access_request_column"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("access_request.id", ondelete="CASCADE"), primary_key=True)
    column_name: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    # None until a steward decides; then True (granted) or False (left out: minimum necessary).
    approved: Mapped[bool | None] = mapped_column(Boolean)


class Grant(Base):
    __tablename__ = "access_grant"
    __table_args__ = (
        Index("ix_access_grant_user_dataset", "user_id", "agreement_id", "dataset_id"),
        Index("ix_access_grant_changed_epoch", "changed_epoch"),
        Index("ix_access_grant_status", "status", "valid_until"),
    )

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreement.id"))
    agreement_version: Mapped[int] = mapped_column(Integer)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    allow_download: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[GrantStatus] = mapped_column(String(20), default=GrantStatus.ACTIVE)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[created_at]
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    end_reason: Mapped[str] = mapped_column(Text, default="")
    last_reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The policy epoch of this grant's last change: processes reload grants changed since
    # the epoch they last saw.
    changed_epoch: Mapped[int] = mapped_column(BigInteger, default=0)

    columns: Mapped[list[GrantColumn]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="GrantColumn.column_name")

    @property
    def column_names(self) -> list[str]:
        return [c.column_name for c in self.columns]

    @property
    def actions(self) -> list[DataAction]:
        return [DataAction.READ, DataAction.DOWNLOAD] if self.allow_download \
            else [DataAction.READ]


class GrantColumn(Base):
    __tablename__ = "access_grant_column"

    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id", ondelete="CASCADE"),
                                          primary_key=True)
    column_name: Mapped[str] = mapped_column(String(120), primary_key=True)


class GrantReview(Base):
    """A steward's periodic re-certification of a grant: confirmed as is, or narrowed."""

    __tablename__ = "grant_review"

    id: Mapped[intpk]
    grant_id: Mapped[int] = mapped_column(ForeignKey("access_grant.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decision: Mapped[str] = mapped_column(String(20))
    kept_columns: Mapped[str] = mapped_column(Text)
    removed_columns: Mapped[str] = mapped_column(Text, default="")
    unused_columns: Mapped[str] = mapped_column(Text, default="")
    comment: Mapped[str] = mapped_column(Text, default="")


class PolicyEpoch(Base):
    """One row counting changes to grants and agreements; read before every decision."""

    __tablename__ = "policy_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
