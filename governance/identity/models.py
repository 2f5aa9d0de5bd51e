"""People who log in, the roles they hold, and the training they have completed."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.authz.roles import Role
from governance.identity.organization_model import Organization
from governance.kernel.db import Base
from governance.kernel.row_seals import SEAL_LENGTH
from governance.kernel.types import UTCDateTime, created_at, intpk, str200, str320, text


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[intpk]
    email: Mapped[str320]
    name: Mapped[str200]
    password_hash: Mapped[text]
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    # When the current run of failed logins began: failures count towards the lockout only
    # within LOCKOUT_MINUTES of it (NIST SP 800-53 AC-7: consecutive failures in a period).
    failed_login_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[created_at]
    # The keyed seal over who the person is and where (e-mail, organisation, password hash, active)
    # (identity/seals.py): set by the application at every write; an account whose seal does not
    # hold does not sign in or act.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    organization: Mapped[Organization] = relationship(lazy="joined")
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    training: Mapped[list[TrainingRecord]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        foreign_keys="TrainingRecord.user_id",
        order_by="TrainingRecord.completed_on.desc()",
    )

    # The attributes flask-login reads; declared here so models need no Flask import.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def role_set(self) -> frozenset[Role]:
        """The roles this person holds: a role row whose seal does not hold (written in the
        database outside the service: identity/seals.py) gives nothing."""
        return frozenset(Role(r.role) for r in self.roles if not r.seal_broken)

    @property
    def broken_roles(self) -> frozenset[Role]:
        """Role rows whose seal does not hold, so that a refusal can say why."""
        return frozenset(Role(r.role) for r in self.roles if r.seal_broken)

    def has_role(self, role: Role) -> bool:
        return role in self.role_set

    def current_courses(self, on: dt.date) -> set[TrainingCourse]:
        return {TrainingCourse(t.course) for t in self.training if t.current_on(on)}

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(String(40), primary_key=True)
    # The keyed seal over whom the role is given (identity/seals.py): set by the application at
    # every write; a role whose seal does not hold gives nothing.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    user: Mapped[User] = relationship(back_populates="roles")

    # Whether the stored row's seal failed when it was loaded (identity/seals.py sets it); a row the
    # application creates in this session is its own.
    seal_broken = False


class TrainingCourse(StrEnum):
    """Courses the laws in the agreements' catalogue may require."""

    PRIVACY_SECURITY = "privacy_security"
    CJIS_SECURITY_AWARENESS = "cjis_security_awareness"
    HIPAA_PRIVACY = "hipaa_privacy"
    FERPA = "ferpa"
    PART2_CONFIDENTIALITY = "part2_confidentiality"
    HUMAN_SUBJECTS = "human_subjects"
    UK_DATA_PROTECTION = "uk_data_protection"

    @property
    def label(self) -> str:
        return COURSE_LABELS[self]


COURSE_LABELS = {
    TrainingCourse.PRIVACY_SECURITY: "Annual privacy and information security awareness",
    TrainingCourse.CJIS_SECURITY_AWARENESS: "CJIS Security Awareness Training",
    TrainingCourse.HIPAA_PRIVACY: "HIPAA Privacy and Security Rule training",
    TrainingCourse.FERPA: "FERPA training on education records",
    TrainingCourse.PART2_CONFIDENTIALITY: "42 CFR Part 2 confidentiality training",
    TrainingCourse.HUMAN_SUBJECTS: "Human subjects research protection",
    TrainingCourse.UK_DATA_PROTECTION: "UK GDPR and Data Protection Act 2018",
}


class TrainingRecord(Base):
    __tablename__ = "training_record"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    course: Mapped[TrainingCourse] = mapped_column(String(40))
    completed_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[created_at]
    # The keyed seal over who completed which course when (access/seals.py): set by the application
    # at every write; a record whose seal does not hold counts for no grant.
    seal: Mapped[str | None] = mapped_column(String(SEAL_LENGTH), nullable=True)

    user: Mapped[User] = relationship(back_populates="training", foreign_keys=[user_id])

    @property
    def course_label(self) -> str:
        return TrainingCourse(self.course).label

    @hybrid_method
    def current_on(self, on: dt.date) -> bool:
        """The one rule for current training: completed on or before `on` and expiring after it
        (training that expires today no longer counts today; training dated tomorrow does not
        count yet). On a record it is a bool; on the class (`TrainingRecord.current_on(day)`)
        the same expression is the SQL clause, so pages that read rows keep the rule too."""
        # `&` rather than `and` or a chained comparison: on the class each side is a SQL
        # comparison, which `and` would try to turn into a bool, while `&` joins them with AND.
        return (self.completed_on <= on) & (self.expires_on > on)
