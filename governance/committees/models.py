"""Committees, their members, what they decide for, the cases they open and every vote cast.

A committee belongs to an organisation and decides the access requests of the agreements,
datasets or organisations that name it (`CommitteeAssignment`). A case is one request before
the committee; its votes are never changed in place: a changed vote closes the earlier row
(`superseded_at`) and adds a new one, so the case page and the audit trail keep both.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.kernel.db import Base
from governance.kernel.types import JSONText, UTCDateTime, created_at, intpk, str200


class DecisionRule(StrEnum):
    ALL = "all"  # every voting member approves
    MAJORITY = "majority"  # more approvals than rejections among the members
    QUORUM = "quorum"  # at least N members vote, then a majority of them
    ANY_NO_BLOCKS = "any_no_blocks"  # one rejection rejects; otherwise approved when all voted


class MemberRole(StrEnum):
    CHAIR = "chair"
    MEMBER = "member"
    OBSERVER = "observer"  # sees the cases, never votes


class Vote(StrEnum):
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REJECT = "reject"
    ABSTAIN = "abstain"


class SubjectType(StrEnum):
    """What names a committee, in order of precedence: the agreement's committee decides over
    its dataset's, and the dataset's over its provider organisation's."""

    AGREEMENT = "agreement"
    DATASET = "dataset"
    ORGANIZATION = "organization"


class Committee(Base):
    __tablename__ = "committee"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[intpk]
    name: Mapped[str200]
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    rule: Mapped[DecisionRule] = mapped_column(String(20), default=DecisionRule.MAJORITY)
    # The number of members who must vote under the quorum rule (None under the others).
    quorum: Mapped[int | None] = mapped_column(Integer)
    # On a tie the chair's own vote decides (when the chair voted approve or reject).
    chair_casting_vote: Mapped[bool] = mapped_column(Boolean, default=True)
    # Days from a request's submission to the case deadline, after which the chair may decide
    # alone (recorded as such).
    decision_days: Mapped[int] = mapped_column(Integer, default=14)
    created_at: Mapped[created_at]

    members: Mapped[list[CommitteeMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CommitteeMember.user_id"
    )

    def role_of(self, user_id: int | None) -> MemberRole | None:
        for member in self.members:
            if member.user_id == user_id:
                return MemberRole(member.role)
        return None

    @property
    def chair_id(self) -> int | None:
        return next((m.user_id for m in self.members if m.role == MemberRole.CHAIR), None)

    @property
    def voter_ids(self) -> list[int]:
        return [m.user_id for m in self.members if m.role != MemberRole.OBSERVER]


class CommitteeMember(Base):
    __tablename__ = "committee_member"

    committee_id: Mapped[int] = mapped_column(
        ForeignKey("committee.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    role: Mapped[MemberRole] = mapped_column(String(20))
    added_at: Mapped[created_at]


class CommitteeAssignment(Base):
    """One agreement, dataset or organisation naming the committee that decides for it."""

    __tablename__ = "committee_assignment"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id"),)

    id: Mapped[intpk]
    committee_id: Mapped[int] = mapped_column(ForeignKey("committee.id"), index=True)
    subject_type: Mapped[SubjectType] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[created_at]


class CommitteeCase(Base):
    """An access request, or a submitted agreement version, before a committee, from its
    submission to the decision. Exactly one of the two is named."""

    __tablename__ = "committee_case"
    __table_args__ = (
        UniqueConstraint("request_id"),
        UniqueConstraint("agreement_id", "version_number"),
        CheckConstraint(
            "(request_id IS NOT NULL AND agreement_id IS NULL AND version_number IS NULL) OR "
            "(request_id IS NULL AND agreement_id IS NOT NULL AND version_number IS NOT NULL)",
            name="one_subject",
        ),
    )

    id: Mapped[intpk]
    committee_id: Mapped[int] = mapped_column(ForeignKey("committee.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("access_request.id"))
    # An agreement approval: the version submitted for approval.
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreement.id"))
    version_number: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # None while open; then "approved" or "rejected".
    decision: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The chair decided alone after the deadline, without the rule being met.
    decided_alone: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    # The structured terms the grant took from approvals with conditions (conditions.py).
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict)

    votes: Mapped[list[CommitteeVote]] = relationship(lazy="selectin", order_by="CommitteeVote.id")
    recusals: Mapped[list[CommitteeRecusal]] = relationship(
        lazy="selectin", order_by="CommitteeRecusal.id"
    )

    @property
    def current_votes(self) -> list[CommitteeVote]:
        return [v for v in self.votes if v.superseded_at is None]

    @property
    def recused_ids(self) -> set[int]:
        return {r.user_id for r in self.recusals}


class CommitteeVote(Base):
    __tablename__ = "committee_vote"

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("committee_case.id"), index=True)
    voter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    vote: Mapped[Vote] = mapped_column(String(30))
    comment: Mapped[str] = mapped_column(Text, default="")
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONText(), default=dict)
    cast_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Set when the voter changed their vote or recused themselves: the row stays as history.
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class CommitteeRecusal(Base):
    """A member's declared conflict of interest on a case: they cannot vote on it."""

    __tablename__ = "committee_recusal"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("committee_case.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
